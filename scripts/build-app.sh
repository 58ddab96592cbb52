#!/usr/bin/env bash
# Builds the app into dist/ with trunk, offline: every tool comes from scripts/setup.sh, none is downloaded.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
cargo fetch --quiet
trunk build --release --offline "$@"
