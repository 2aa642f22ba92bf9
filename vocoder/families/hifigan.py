"""HiFi-GAN-shaped vocoders: the published layout (jik876/hifi-gan, torchaudio, kNN-VC) and
the one builder every HiFi-GAN-shaped family goes through.

A family loader translates its files into plain generator weights under the published names
and a :class:`~vocoder.config.HiFiGANConfig`; what its toolkit does around the generator
travels in the config's extra keys, which :func:`build` honours and ``vocoder convert``
writes to ``config.json``, so a converted vocoder loads and sounds the same:

``inference_padding``
    frames repeated at each end of the mel before vocoding, their samples cut after
    (SpeechBrain, Coqui TTS);
``input_mean`` / ``input_scale``
    per-channel statistics: the generator sees ``(mel - mean) / scale`` (ESPnet);
``mel_frontend``
    the family's mel definition (:func:`vocoder.mel.frontend_spec`); absent: HiFi-GAN's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import torch
from torch import Tensor

from ..checkpoint import (CheckpointError, check_fits, generator_state, read_checkpoint,
                          resolve_config)
from ..config import HiFiGANConfig
from ..generator import HiFiGANGenerator
from ..inference import Vocoder
from ..mel import frontend_from_spec
from .adapter import AdaptedVocoder
from .loaded import LoadedVocoder
from .weights import fold_weight_norm

NAME = "hifigan"
EXTRA_KEYS = ("inference_padding", "input_mean", "input_scale", "mel_frontend")


def detect(path: Path) -> bool:
    """The fallback: any file no other family claims."""
    return True


def load(path: Path, config: str | os.PathLike | HiFiGANConfig | None, *,
         device: str = "cpu", dtype: str = "float32") -> LoadedVocoder:
    """A published-layout generator (any of :func:`vocoder.checkpoint.load_generator`'s
    formats) with ``config`` or the ``config.json`` beside it."""
    state, _ = generator_state(read_checkpoint(path), path)
    cfg, cfg_source = resolve_config(path, config)
    return build(fold_weight_norm(state), cfg, family=NAME,
                 source=f"{path} with {cfg_source}", device=device, dtype=dtype)


def _stat(cfg: HiFiGANConfig, key: str, channels: int, source: str) -> Tensor | None:
    value = cfg.extra.get(key)
    if value is None:
        return None
    stat = torch.as_tensor(value, dtype=torch.float32).reshape(-1)
    if stat.numel() != channels or not torch.isfinite(stat).all():
        raise CheckpointError(f"{source}: '{key}' must be {channels} finite numbers, got "
                              f"{stat.numel()}")
    return stat


def build(state: Mapping[str, Tensor], cfg: HiFiGANConfig, *, family: str, source: str,
          device: str = "cpu", dtype: str = "float32") -> LoadedVocoder:
    """Plain generator weights (published names) and their config -> a ready vocoder with
    its mel frontend, honouring the config's family keys (module docstring).

    Raises:
        CheckpointError: weights that do not fit the config (first mismatch named).
    """
    generator = HiFiGANGenerator(cfg.generator, weight_norm=False)
    check_fits(generator, state, source, "its config")
    generator.load_state_dict(state)
    inner = Vocoder(generator, cfg, device=device, dtype=dtype)
    edge = int(cfg.extra.get("inference_padding") or 0)
    mean = _stat(cfg, "input_mean", cfg.input_channels, source)
    scale = _stat(cfg, "input_scale", cfg.input_channels, source)
    vocoder = AdaptedVocoder(inner, edge, mean, scale) if edge or mean is not None else inner
    frontend = (None if cfg.is_feature_vocoder
                else frontend_from_spec(cfg.extra.get("mel_frontend"), cfg.audio, source))
    if frontend is not None:
        frontend = frontend.to(inner.device)
    return LoadedVocoder(vocoder, frontend, family, source, cfg,
                         {k: v.detach().cpu() for k, v in state.items()})


__all__ = ["EXTRA_KEYS", "NAME", "build", "detect", "load"]
