#!/usr/bin/env bash
# Refresh requirements.lock: resolve hifisynth with every extra (app, hf, test) in a new,
# empty virtual environment and write the exact versions pip chose. torch and torchaudio
# stay at their pyproject.toml pins; everything else takes the newest release its lower bound
# allows. Run the tests afterwards (HIFISYNTH_VENV=/tmp/hifisynth-lock-venv bash scripts/test.sh)
# and commit the lock only if they pass.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${LOCK_VENV:-/tmp/hifisynth-lock-venv}"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e ".[app,hf,test]"
{
    echo "# Exact versions hifisynth was tested with: a pip constraints file (pip install -c)."
    echo "# Resolved by scripts/lock.sh on $(uname -s) $(uname -m), Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())'), $(date -u +%Y-%m-%d)."
    echo "# Refresh: bash scripts/lock.sh, then run the tests. Install without it: pip install -e ."
    "$venv/bin/python" -m pip freeze --exclude-editable | LC_ALL=C sort -f
} > requirements.lock
echo "wrote requirements.lock ($(grep -vc '^#' requirements.lock) packages) from $venv"
