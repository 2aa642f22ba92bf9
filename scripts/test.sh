#!/usr/bin/env bash
# Set up a virtual environment with the project and its test extra (exact versions from
# requirements.lock), check that every module imports, then run every test (the slow
# end-to-end ones included). Exits non-zero when the check or any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
install_project test
# The browser test drives Debian's Chromium through Playwright (never `playwright install`).
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null
    else
        echo "scripts/test.sh: install Chromium first (Debian: sudo apt-get install chromium)" >&2
        exit 1
    fi
fi
"$venv/bin/python" scripts/check_install.py
# Side environments with each vocoder family's own code, for the parity tests
# (tests/vocoder/families); kept between runs while their pins are unchanged.
bash scripts/upstream_envs.sh "$venv/bin/python"
exec "$venv/bin/python" -m pytest -q "$@"
