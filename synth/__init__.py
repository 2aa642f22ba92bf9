"""hifisynth's synthesis pipelines: audio, mel files, text and SSL features into the vocoder.

The front door::

    from synth import Synthesizer, SynthConfig, ModelHub, ModelSpec

    synth = Synthesizer.from_pretrained()          # the model cache the environment names
    synth.speak("Hello there.").save("hello.wav")

Names are imported on first use, so ``import synth`` (and ``synth --help``) stays fast and
does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {"Synthesizer": "pipeline", "SynthConfig": "pipeline", "SynthResult": "pipeline",
         "ModelHub": "hub", "ModelSpec": "hub", "ModelCache": "models",
         "ModelRegistry": "models"}

if TYPE_CHECKING:
    from .hub import ModelHub, ModelSpec
    from .models import ModelCache, ModelRegistry
    from .pipeline import SynthConfig, Synthesizer, SynthResult


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'synth' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"synth.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = ["ModelCache", "ModelHub", "ModelRegistry", "ModelSpec", "SynthConfig", "SynthResult",
           "Synthesizer", "__version__"]
