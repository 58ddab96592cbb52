#!/usr/bin/env bash
# Installs whatever tickdesk needs that is missing, idempotently.
#
#   scripts/setup.sh            toolchain for building the app (wasm target, trunk, wasm-bindgen-cli, wasm-opt)
#   scripts/setup.sh --test     the same, plus what the tests need (Chromium + ChromeDriver, playwright-core)
#
# Only the package registries are used (crates.io, npm, Debian). Nothing downloads its own binaries:
# trunk is always run with --offline, so a tool missing here fails the build at once.
set -euo pipefail

TRUNK_VERSION=0.21.14
# Must equal the wasm-bindgen version pinned in app/Cargo.toml and locked in Cargo.lock.
WASM_BINDGEN_VERSION=0.2.130

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(trunk --version 2>/dev/null | awk '{print $2}')" != "$TRUNK_VERSION" ]; then
  say "installing trunk $TRUNK_VERSION (about 10 minutes on 2 cores, once)"
  cargo install trunk --version "$TRUNK_VERSION" --locked
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes, once)"
  # --locked fails against this registry's index for this crate; the version itself is pinned.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# npm tooling: binaryen (wasm-opt 132; Debian's 108 is too old for current rustc output) and playwright-core
# (drives the system Chromium; it never downloads a browser). Versions are locked in tools/package-lock.json.
if [ ! -x tools/node_modules/.bin/wasm-opt ] || [ tools/package-lock.json -nt tools/node_modules/.package-lock.json ]; then
  say "installing npm tooling (binaryen, playwright-core)"
  (cd tools && npm ci --no-audit --no-fund)
fi

if [ "$want_test" = 1 ]; then
  if ! command -v faketime >/dev/null; then
    say "installing faketime from Debian (the suite runs again at other hours of the clock)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq faketime >/dev/null
  fi
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    say "installing Chromium and ChromeDriver from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
fi
say "toolchain ready"
