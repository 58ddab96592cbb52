#!/usr/bin/env bash
# The first of the README's two commands: installs what is missing, builds the app and the relay, and serves the
# desk. Extra arguments go to the relay (e.g. --listen 0.0.0.0:8080); every setting is in the README.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
scripts/build-app.sh
cargo build --release -p tickdesk-relay
listen="${TICKDESK_LISTEN:-127.0.0.1:8080}"
echo
echo "  tickdesk: open http://${listen}/   (Ctrl-C stops the relay)"
echo
exec target/release/tickdesk-relay --static-dir dist "$@"
