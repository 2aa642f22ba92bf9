#!/usr/bin/env bash
# Build the side environments in which the parity tests (tests/vocoder/families) run each
# vocoder family's own published code. Each reuses the test environment's packages (a .pth
# file lists its site-packages) and installs a few packages over them, without their
# dependencies, from the pins in scripts/upstream/*.txt:
#   modern: speechbrain, coqui-tts, bigvgan          (nothing overridden)
#   pwg:    parallel_wavegan 0.6.1 with scipy 1.12 / numpy 1.26 (0.6.1 needs scipy < 1.13)
# Usage: scripts/upstream_envs.sh [PYTHON]   (default: $HIFISYNTH_VENV/bin/python or .venv)
# Where: $HIFISYNTH_UPSTREAM_VENVS (default .venv-upstream). An environment whose pins are
# unchanged is kept; prints the seconds each build took.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:-${HIFISYNTH_VENV:-.venv}/bin/python}"
root="${HIFISYNTH_UPSTREAM_VENVS:-.venv-upstream}"
mkdir -p "$root"

build() {  # NAME: build $root/NAME from scripts/upstream/NAME.txt
    local name=$1 pins="scripts/upstream/$1.txt" env="$root/$1"
    local stamp
    stamp="$(sha256sum "$pins" scripts/upstream_envs.sh | sha256sum | cut -c1-16) $("$python" -c 'import sys; print(sys.prefix)')"
    if [ -f "$env/.stamp" ] && [ "$(cat "$env/.stamp")" = "$stamp" ]; then
        return
    fi
    local started=$SECONDS
    rm -rf "$env"
    "$python" -m venv "$env"
    local purelib
    purelib="$("$env/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    # every site-packages directory of the test environment (a venv over another one too)
    "$python" -c 'import sys; print("\n".join(p for p in sys.path if p.endswith("site-packages")))' \
        > "$purelib/test-environment.pth"
    "$env/bin/python" -m pip install -q --no-deps -r "$pins"
    if [ "$name" = pwg ]; then
        # its setup.py imports pip, so it is built here without build isolation
        "$env/bin/python" -m pip install -q --no-deps --no-build-isolation parallel_wavegan==0.6.1
    fi
    echo "$stamp" > "$env/.stamp"
    echo "upstream_envs: built $env in $((SECONDS - started)) s"
}

build modern
build pwg
