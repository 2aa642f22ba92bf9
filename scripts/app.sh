#!/usr/bin/env bash
# Set up a virtual environment with the project, then run the main job: copy synthesis of the
# example clip with the published HiFi-GAN V3 (LJSpeech) weights, downloaded once to the cache
# ($HIFISYNTH_HOME, default ~/.cache/hifisynth), through `vocoder mel` and `vocoder infer`.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${HIFISYNTH_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e .
py="$venv/bin/python"
"$py" -m synth models download hifigan-v3-ljspeech
ckpt=$("$py" -m synth models path hifigan-v3-ljspeech)
out="${1:-out/demo}"
"$py" -m vocoder mel --config assets/configs/hifigan_v3_ljspeech.json \
    --input-wavs assets/examples --output-dir "$out/mels"
"$py" -m vocoder infer --checkpoint "$ckpt" --config assets/configs/hifigan_v3_ljspeech.json \
    --input-mels "$out/mels" --output-dir "$out/wavs"
echo "resynthesised audio in $out/wavs"
