"""The installation: exact pins where binaries must match, a lock file of the tested set, and
the import check that runs before the tests (scripts/check_install.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib

import pytest

from tests.conftest import BROKEN_SYMBOL, REPO
from vocoder.dependencies import TESTED, installed_version

CHECK = REPO / "scripts" / "check_install.py"


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: '{line}' is not an exact pin"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


def _requirement_names(requirements: list[str]) -> list[str]:
    names = [re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0] for r in requirements]
    return [re.sub(r"[-_.]+", "-", n).lower() for n in names if n.lower() != "hifisynth"]


def test_torch_and_torchaudio_are_pinned_exactly_everywhere() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"]
    for name, version in TESTED.items():
        assert f"{name}=={version}" in deps
        assert _lock()[name] == version
    # Every other dependency has a lower bound (or a range), none is left open.
    for dep in deps + [d for extra in project["optional-dependencies"].values() for d in extra]:
        if not dep.startswith("hifisynth"):
            assert re.search(r"(>=|==|~=)", dep), f"{dep}: give it a tested lower bound"


def test_the_lock_holds_every_dependency() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = _requirement_names(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += _requirement_names(extra)
    assert sorted(set(wanted) - set(_lock())) == []


@pytest.mark.skipif(os.environ.get("HIFISYNTH_LOCKED") != "1",
                    reason="not installed from requirements.lock (scripts/test.sh sets "
                           "HIFISYNTH_LOCKED=1 when it is)")
def test_this_environment_is_the_locked_one() -> None:
    lock = _lock()
    for name in ("torch", "torchaudio", "numpy", "gradio", "transformers", "librosa"):
        assert installed_version(name) == lock[name], name


def test_import_check_passes_here() -> None:
    done = subprocess.run([sys.executable, str(CHECK)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "modules, app.py and torchaudio's models are fine" in done.stdout
    assert f"torch {TESTED['torch']}, torchaudio {TESTED['torchaudio']}" in done.stdout


def test_import_check_names_each_module_a_broken_torchaudio_breaks(broken_torchaudio) -> None:
    env = {"PYTHONPATH": str(broken_torchaudio), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, str(CHECK)], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    failed = {line.split(": ")[1] for line in lines[:-1]}
    assert "synth.features" in failed
    # Feature files, prematching, kNN-VC and the transformers backend work with either
    # backend: only the torchaudio backend needs torchaudio.
    assert not failed & {"synth.extraction", "synth.hf_features", "synth.knnvc",
                         "synth.prematch", "synth.featurefiles"}
    assert "vocoder.train" not in failed and "app.py" not in failed
    for line in lines[:-1]:
        assert line.startswith("import check: ")
        if "synth.features:" in line:
            assert "torchaudio 2.11.1 does not load with torch 2.11.0" in line
            assert f"libtorchaudio.so: undefined symbol: {BROKEN_SYMBOL}" in line
            assert "pip install torch==2.11.0 torchaudio==2.11.0" in line
    assert re.fullmatch(r"import check: \d+ of \d+ checks failed \(hifisynth .* torchaudio "
                        r"2\.11\.1\)\)", lines[-1])
    assert "Traceback" not in done.stderr
