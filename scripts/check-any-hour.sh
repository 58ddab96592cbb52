#!/usr/bin/env bash
# Runs the Rust test binaries with the wall clock set to other hours (Debian's faketime; the monotonic clock left
# alone), to check that no test reads the wall clock for a market decision:
#
#   scripts/check-any-hour.sh                      Saturday 01:00 ET and Wednesday 12:00 ET
#   scripts/check-any-hour.sh '@2026-12-25 15:00:00'   any faketime spec (UTC)
#
# Only the test binaries run under faketime (cargo and rustdoc hang under it), so they are built first.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v faketime >/dev/null || { echo "faketime is missing: apt-get install -y faketime" >&2; exit 2; }
specs=("$@")
[ ${#specs[@]} -gt 0 ] || specs=('@2026-12-05 06:00:00' '@2026-12-02 17:00:00')  # Sat 01:00 ET, Wed 12:00 ET
mapfile -t bins < <(cargo test --workspace --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["manifest_path"].rsplit("/", 1)[0] + " " + m["executable"])')
for spec in "${specs[@]}"; do
  echo "==> the Rust suite at $spec (UTC)"
  for entry in "${bins[@]}"; do
    dir=${entry%% *} bin=${entry#* }
    # Each binary runs from its crate's directory, as cargo runs it. The 60 s stalled-client test is about memory,
    # not time of day; it is skipped here to keep the check short.
    (cd "$dir" && FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f "$spec" "$bin" --skip a_stalled_client -q) ||
      { echo "FAILED at $spec: $bin" >&2; exit 1; }
  done
done
echo "==> every test passed at every hour asked"
