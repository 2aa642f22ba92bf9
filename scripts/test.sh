#!/usr/bin/env bash
# Set up a virtual environment with the project and its test extra, then run every test
# (the slow end-to-end ones included). Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${HIFISYNTH_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e ".[test]"
# The browser test drives Debian's Chromium through Playwright (never `playwright install`).
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null
    else
        echo "scripts/test.sh: install Chromium first (Debian: sudo apt-get install chromium)" >&2
        exit 1
    fi
fi
exec "$venv/bin/python" -m pytest -q "$@"
