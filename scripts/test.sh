#!/usr/bin/env bash
# The second of the README's two commands: installs what is missing, then runs every check and test:
# formatting, the import-circle check, clippy (native and wasm32), the Rust unit and integration tests (and again under faketime at other
# hours, to show no test reads the wall clock for a market decision), schwab-py (PyPI) against the Schwab
# simulator, and the browser end-to-end tests in headless Chromium against the real built app and a real relay.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }

step "setup"
scripts/setup.sh --test

step "cargo fmt --check"
cargo fmt --all -- --check

step "no import circles (crates and modules)"
python3 scripts/check-imports.py

step "cargo clippy (native, all targets)"
cargo clippy --workspace --all-targets --quiet -- -D warnings
step "cargo clippy (app, wasm32)"
cargo clippy -p tickdesk-app --target wasm32-unknown-unknown --quiet -- -D warnings

step "cargo test"
cargo test --workspace

step "the Rust suite again, with the wall clock at Saturday 01:00 ET and Wednesday 12:00 ET (faketime)"
scripts/check-any-hour.sh

step "build the app (trunk) and the relay"
scripts/build-app.sh
cargo build -p tickdesk-relay --quiet

step "schwab-py (from PyPI) against the built-in Schwab simulator"
TICKDESK_SIM_CMD="$root/target/debug/tickdesk-relay simulator" scripts/test-schwab-py.sh

step "browser end-to-end tests (headless Chromium)"
mkdir -p test-output
TICKDESK_RELAY_BIN="$root/target/debug/tickdesk-relay" TICKDESK_DIST="$root/dist" \
  node --test --test-concurrency=1 tests/e2e/
