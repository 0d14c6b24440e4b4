#!/usr/bin/env bash
# Rebuild docs/api-reference.md: hand-written head + tables generated from the installed SDK.
# Usage: tests/sdk/build_reference.sh [python-with-the-sdk]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${1:-${EPLINK_VENV:-target/sdk-venv}/bin/python}"
{ cat tests/sdk/reference_head.md; "$PY" tests/sdk/gen_reference.py; } > docs/api-reference.md
