"""NVIDIA BigVGAN, v1 and v2 (:mod:`vocoder.families.bigvgan_model`).

Files: ``bigvgan_generator.pt`` (or a training ``g_XXXXXXXX``): ``{"generator": state_dict}``
with weight norm, and ``config.json`` beside it with HiFi-GAN's audio keys plus
``activation`` (``snake`` / ``snakebeta``), ``snake_logscale`` and, in v2,
``use_tanh_at_final`` / ``use_bias_at_final``. The mel is HiFi-GAN's
(:class:`vocoder.mel.HiFiGANMel`) with the config's ``fmax``, which may be null (half the
sample rate). For inference and evaluation; training BigVGAN is not supported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..checkpoint import CheckpointError, read_checkpoint
from ..config import AudioConfig, ConfigError, GeneratorConfig, HiFiGANConfig
from ..inference import Vocoder
from ..mel import HiFiGANMel
from .bigvgan_model import BigVGANGenerator, BigVGANShape, bigvgan_receptive_field_frames
from .configfiles import json_beside, read_json
from .loaded import LoadedVocoder
from .weights import fold_weight_norm, tensors

NAME = "bigvgan"
CONFIG = "config.json"


def detect(path: Path) -> bool:
    data = json_beside(path, CONFIG)
    return data is not None and data.get("activation") in ("snake", "snakebeta")


def read_config(path: Path) -> tuple[BigVGANShape, AudioConfig]:
    """The generator shape and audio settings of a BigVGAN ``config.json``."""
    data = read_json(path)
    hifigan = HiFiGANConfig.from_dict(data, source=str(path))
    shape = BigVGANShape(
        num_mels=hifigan.audio.num_mels, upsample_rates=hifigan.generator.upsample_rates,
        upsample_kernel_sizes=hifigan.generator.upsample_kernel_sizes,
        upsample_initial_channel=hifigan.generator.upsample_initial_channel,
        resblock=hifigan.generator.resblock,
        resblock_kernel_sizes=hifigan.generator.resblock_kernel_sizes,
        resblock_dilation_sizes=hifigan.generator.resblock_dilation_sizes,
        activation=str(data.get("activation")), snake_logscale=bool(data.get("snake_logscale",
                                                                              True)),
        use_tanh_at_final=bool(data.get("use_tanh_at_final", True)),
        use_bias_at_final=bool(data.get("use_bias_at_final", True)))
    if shape.activation not in ("snake", "snakebeta"):
        raise ConfigError(f"{path}: 'activation' must be 'snake' or 'snakebeta', got "
                          f"{data.get('activation')!r}")
    if hifigan.audio.hop_size != shape.upsample_factor:
        raise ConfigError(f"{path}: 'hop_size' {hifigan.audio.hop_size} differs from the "
                          f"product of 'upsample_rates' ({shape.upsample_factor})")
    return shape, hifigan.audio


class BigVGANVocoder(Vocoder):
    """:class:`vocoder.inference.Vocoder` over a BigVGAN generator (its own context)."""

    def __init__(self, generator: BigVGANGenerator, audio: AudioConfig, **kwargs: Any) -> None:
        shape = generator.shape
        cfg = HiFiGANConfig(audio=audio, generator=GeneratorConfig(
            upsample_rates=shape.upsample_rates, upsample_kernel_sizes=shape.upsample_kernel_sizes,
            upsample_initial_channel=shape.upsample_initial_channel, resblock=shape.resblock,
            resblock_kernel_sizes=shape.resblock_kernel_sizes,
            resblock_dilation_sizes=shape.resblock_dilation_sizes, in_channels=shape.num_mels))
        super().__init__(generator, cfg, **kwargs)  # type: ignore[arg-type]
        self.context_frames = bigvgan_receptive_field_frames(shape) + 1


def load(path: Path, config: str | os.PathLike | None, *, device: str = "cpu",
         dtype: str = "float32") -> LoadedVocoder:
    """``bigvgan_generator.pt`` with BigVGAN's ``config.json`` beside it (or ``config``)."""
    json_path = path.parent / CONFIG if config is None else Path(config)
    if not json_path.is_file():
        raise CheckpointError(f"{path}: no {CONFIG} beside it; BigVGAN's settings come from it")
    shape, audio = read_config(json_path)
    obj = read_checkpoint(path)
    state = fold_weight_norm(tensors(obj.get("generator", obj)))
    if not any(k.startswith("ups.0.0.") for k in state):
        raise CheckpointError(f"{path}: no BigVGAN generator found (expected 'generator' with "
                              "'ups.0.0.*' parameters)")
    generator = BigVGANGenerator(shape)
    expected = generator.state_dict()
    for key, want in expected.items():
        got = state.get(key)
        if got is None:
            raise CheckpointError(f"{path}: parameter '{key}' missing from the checkpoint "
                                  f"(expected by {json_path.name})")
        if tuple(got.shape) != tuple(want.shape):
            raise CheckpointError(f"{path}: parameter '{key}' has shape {tuple(got.shape)} in "
                                  f"the checkpoint but {tuple(want.shape)} in {json_path.name}")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise CheckpointError(f"{path}: unexpected parameter '{extra[0]}' (and "
                              f"{len(extra) - 1} more) not in the generator {json_path.name} "
                              "describes")
    generator.load_state_dict(state)
    vocoder = BigVGANVocoder(generator.eval(), audio, device=device, dtype=dtype)
    return LoadedVocoder(vocoder, HiFiGANMel(audio).to(vocoder.device), NAME,
                         f"{path} with {json_path.name}")


__all__ = ["BigVGANVocoder", "CONFIG", "NAME", "detect", "load", "read_config"]
