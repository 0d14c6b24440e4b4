#!/usr/bin/env bash
# SDK compatibility suite: the official PrivateLink Python SDK drives a real eplinkd.
#   tests/sdk/run.sh [pytest args...]
# Env: EPLINK_VENV (default target/sdk-venv); EPLINKD_BIN (if unset: cargo build -p eplink-control
# --bin eplinkd, then <target>/debug/eplinkd). Exit code is pytest's.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
VENV="${EPLINK_VENV:-target/sdk-venv}"
REQ="tests/sdk/requirements.txt"
STAMP="$VENV/.eplink-requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
    echo "$want" > "$STAMP"
fi
if [ -z "${EPLINKD_BIN:-}" ]; then
    # Build (a no-op when up to date) so the suite never runs a stale daemon.
    cargo build -p eplink-control --bin eplinkd
    export EPLINKD_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/eplinkd"
fi
# The SDK honours HTTP(S)_PROXY: make sure nothing leaves loopback.
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy
export NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost"
set +e
"$VENV/bin/python" -m pytest -q -c tests/sdk/pytest.ini --rootdir tests/sdk tests/sdk "$@"
rc=$?
set -e
exit $rc
