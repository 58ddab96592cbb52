#!/usr/bin/env bash
# Drives tickdesk's Schwab simulator with schwab-py (from PyPI, pinned in tests/schwab-py/requirements.txt):
# OAuth token, option chain, minute price history, and LEVELONE_OPTIONS / CHART_EQUITY data parsed by
# schwab-py's StreamClient.
#
# Creates (or reuses) the virtualenv .venv-schwab-py at the repository root, installs the pinned requirements
# into it, builds the simulator, then runs pytest on tests/schwab-py. Extra arguments go to pytest.
# TICKDESK_SIM_CMD overrides how the simulator is started (it gets --listen/--seed/--tick-ms appended).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-schwab-py
PYTHON=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
echo "==> installing tests/schwab-py/requirements.txt into $VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/schwab-py/requirements.txt

if [ -z "${TICKDESK_SIM_CMD:-}" ]; then
    # Build first so the test's start-up wait is not spent compiling.
    echo "==> building the relay (its simulator subcommand)"
    cargo build -q -p tickdesk-relay
    export TICKDESK_SIM_CMD="$PWD/target/debug/tickdesk-relay simulator"
fi
echo "==> pytest tests/schwab-py"
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the tree
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/schwab-py "$@"
