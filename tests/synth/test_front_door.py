"""``from synth import Synthesizer, ModelHub`` works, lazily: the ``synth`` command's help and
``import synth`` import no torch."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

CHECK = """
import sys
import synth, synth.cli
synth.cli.build_parser()
assert "torch" not in sys.modules, "torch imported by import synth / synth --help"
from synth import ModelHub, ModelSpec, SynthConfig, Synthesizer, SynthResult
import synth.hub, synth.pipeline
assert Synthesizer is synth.pipeline.Synthesizer and ModelHub is synth.hub.ModelHub
assert {"Synthesizer", "ModelHub"} <= set(dir(synth))
try:
    synth.Nothing
except AttributeError as exc:
    print(exc)
"""


def test_front_door_is_lazy() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                          cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "module 'synth' has no attribute 'Nothing'"
