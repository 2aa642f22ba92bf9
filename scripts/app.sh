#!/usr/bin/env bash
# Set up a virtual environment with the project and the web app (exact versions from
# requirements.lock), fetch the default mel vocoder (the published HiFi-GAN V3 LJSpeech weights,
# 5.9 MB) into the cache ($HIFISYNTH_HOME, default ~/.cache/hifisynth) if it can, then start the
# app on http://127.0.0.1:7860. Arguments are passed to app.py (see `python app.py --help`):
# --device, --port, --share...
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
install_project app
if ! "$venv/bin/python" -m synth models download hifigan-v3-ljspeech; then
    echo "scripts/app.sh: starting without the default vocoder; the Models tab says how to get it" >&2
fi
exec "$venv/bin/python" app.py "$@"
