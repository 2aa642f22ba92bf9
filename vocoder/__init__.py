"""hifisynth's vocoder: mel frontend, HiFi-GAN generator and discriminators, training, inference.

The main names, importable from here::

    from vocoder import Vocoder, load_generator, MelSpectrogram, HiFiGANConfig

    voc = Vocoder.from_checkpoint("LJ_V1/generator_v1")     # config.json beside it
    mel = MelSpectrogram(voc.audio)(waveform)               # (batch, samples) -> (batch, 80, frames)
    audio = voc(mel)                                        # (batch, frames * 256), float32

=====================================  =====================================================
configs                                :class:`HiFiGANConfig` (``load``, ``save``),
                                       :class:`AudioConfig`, :class:`GeneratorConfig`,
                                       :class:`TrainConfig`, :func:`preset`, :func:`load_config`
mel frontend                           :class:`MelSpectrogram`
models                                 :class:`HiFiGANGenerator`, :class:`HiFiGANDiscriminator`
checkpoints                            :func:`load_generator`, :func:`save_generator`
running vocoders                       :class:`Vocoder`, :class:`GriffinLimVocoder`,
                                       :class:`FrameVocoder` (their protocol), :func:`vocode`
audio files                            :func:`load_audio`, :func:`save_wav`
errors                                 :class:`HifisynthError` and its :class:`InputError`,
                                       :class:`DependencyError`, :class:`ConfigError`,
                                       :class:`CheckpointError`, :class:`AudioError`
=====================================  =====================================================

Training: :mod:`vocoder.train`. Names load on first use (PEP 562), so ``import vocoder`` (and
``vocoder.errors``) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "AudioConfig": "config", "ConfigError": "config", "GeneratorConfig": "config",
    "HiFiGANConfig": "config", "TrainConfig": "config", "load_config": "config",
    "preset": "config",
    "MelSpectrogram": "mel",
    "HiFiGANGenerator": "generator",
    "HiFiGANDiscriminator": "discriminators",
    "CheckpointError": "checkpoint", "load_generator": "checkpoint",
    "save_generator": "checkpoint",
    "FrameVocoder": "inference", "Vocoder": "inference", "vocode": "inference",
    "GriffinLimVocoder": "griffinlim",
    "AudioError": "audio", "load_audio": "audio", "save_wav": "audio",
    "DependencyError": "errors", "HifisynthError": "errors", "InputError": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vocoder' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
