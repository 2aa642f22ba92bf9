#!/usr/bin/env bash
# Set up a virtual environment with the project and its test extra, then run every test
# (the slow end-to-end ones included). Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${HIFISYNTH_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e ".[test]"
exec "$venv/bin/python" -m pytest -q "$@"
