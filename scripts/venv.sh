# Sourced by app.sh and test.sh: the virtual environment ($HIFISYNTH_VENV, default .venv) and
# `install_project EXTRA`, which installs hifisynth with that extra from requirements.lock
# (the exact versions the tests passed with). HIFISYNTH_NO_LOCK=1 installs from the ranges in
# pyproject.toml instead (torch and torchaudio stay pinned there).
venv="${HIFISYNTH_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"

install_project() {
    local constraints=(-c requirements.lock)
    export HIFISYNTH_LOCKED=1  # tells tests/test_install.py the environment is the locked one
    if [ "${HIFISYNTH_NO_LOCK:-0}" = 1 ]; then
        constraints=()
        HIFISYNTH_LOCKED=0
    fi
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q "${constraints[@]}" -e ".[$1]"
}
