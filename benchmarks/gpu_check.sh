#!/usr/bin/env bash
# Run benchmarks/gpu_check.py (its arguments passed on: --out DIR, --cpu-smoke, --sections...)
# in an environment with hifisynth's dependencies, the first of:
#   1. $HIFISYNTH_PYTHON, if set;
#   2. the virtual environment $HIFISYNTH_VENV (default .venv), if it exists;
#   3. a machine that reaches no package registry but whose python3 has PyTorch (a lent GPU
#      machine): the wheels in .whl/ (fetched beforehand, elsewhere, by
#      benchmarks/gpu_wheels.sh) installed, offline, into a fresh environment
#      ($HIFISYNTH_GPU_VENV, default /tmp/hifisynth-gpu-venv) layered over python3's packages;
#   4. otherwise .venv, set up as scripts/test.sh sets it up (requirements.lock, test extra).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
venv="${HIFISYNTH_VENV:-.venv}"
if [ -n "${HIFISYNTH_PYTHON:-}" ]; then
    py=$HIFISYNTH_PYTHON
elif [ -x "$venv/bin/python" ]; then
    py=$venv/bin/python
elif compgen -G ".whl/*.whl" >/dev/null; then
    base=$(command -v python3)
    layered="${HIFISYNTH_GPU_VENV:-/tmp/hifisynth-gpu-venv}"
    echo "gpu_check.sh: installing $(ls .whl/*.whl | wc -l) wheels from .whl/ over $base"
    pip_offline=(-m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check)
    rm -rf "$layered"
    if "$base" -m venv --without-pip "$layered"; then
        purelib=$("$layered/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        # python3's own packages (torch, ...) after the wheels, their .pth files processed too
        "$base" -c 'import site, sys; open(sys.argv[1], "w").write("".join(
            f"import site; site.addsitedir({p!r})\n" for p in site.getsitepackages()))' \
            "$purelib/zz-base-python.pth"
        "$base" "${pip_offline[@]}" --target "$purelib" .whl/*.whl
        py=$layered/bin/python
    else  # no venv module: into python3's own packages (a lent machine is given back bare)
        "$base" "${pip_offline[@]}" .whl/*.whl
        py=$base
    fi
else
    source scripts/venv.sh
    install_project test
    py=$venv/bin/python
fi
echo "gpu_check.sh: $("$py" -c 'import sys, torch; print(sys.executable, "torch", torch.__version__, "CUDA", torch.cuda.is_available())')"
exec "$py" benchmarks/gpu_check.py "$@"
