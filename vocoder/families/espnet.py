"""ESPnet / ParallelWaveGAN HiFi-GAN (``parallel_wavegan.models.HiFiGANGenerator``).

Files, as ParallelWaveGAN's recipes and ESPnet's model zoo publish them: ``checkpoint-
NNNNsteps.pkl`` (a ``torch.save`` dict: ``{"model": {"generator": ...}, "optimizer": ...}``),
``config.yml`` beside it (``generator_params``, audio settings; released configs may spell
``upsample_kernal_sizes``) and the feature statistics ``stats.h5`` (``mean``, ``scale``) or
``stats.npy`` (``[mean, scale]``). What differs from the published HiFi-GAN:

- names: ``input_conv``, ``upsamples.{i}.1``, ``blocks.{n}.convs1.{m}.1``, ``output_conv.1``;
  ``use_additional_convs: false`` is the type-2 block;
- an upsampling rate that is odd (kernel ``2 * rate``) pads one more sample and adds one
  sample of output padding (:func:`vocoder.generator._upsample`);
- the mel is ``logmelfilterbank``: centred librosa STFT frames, ``log10(max(mel, 1e-10))``
  (:class:`vocoder.mel.CenteredLogMel`); LJSpeech recipes use 80-7600 Hz. With statistics,
  the vocoder takes this raw log10 mel and normalises it to ``(x - mean) / scale`` first,
  as ESPnet's text-to-speech does with these vocoders (``normalize_before``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoint import CheckpointError, read_checkpoint
from ..config import AudioConfig, ConfigError, GeneratorConfig, HiFiGANConfig
from ..dependencies import require
from ..frames import load_npy
from ..mel import CenteredLogMel, frontend_spec
from .hifigan import build
from .loaded import LoadedVocoder
from .weights import fold_weight_norm, rename, tensors
from .configfiles import read_yaml

NAME = "espnet"
CONFIG = "config.yml"

_RENAME = [(r"input_conv\.(.*)", r"conv_pre.\1"),
           (r"upsamples\.(\d+)\.1\.(.*)", r"ups.\1.\2"),
           (r"blocks\.(\d+)\.convs([12])\.(\d+)\.1\.(.*)", r"resblocks.\1.convs\2.\3.\4"),
           (r"output_conv\.1\.(.*)", r"conv_post.\1")]
_RENAME_TYPE2 = [(r"blocks\.(\d+)\.convs1\.(\d+)\.1\.(.*)", r"resblocks.\1.convs.\2.\3")]


def detect(path: Path) -> bool:
    return (path.parent / CONFIG).is_file() or (
        path.name.startswith("checkpoint-") and path.suffix == ".pkl")


def _generator(cfg: dict[str, Any], source: str) -> GeneratorConfig:
    kind = cfg.get("generator_type", "ParallelWaveGANGenerator")
    if kind != "HiFiGANGenerator":
        raise ConfigError(f"{source}: 'generator_type' is {kind!r}; only ParallelWaveGAN's "
                          "HiFiGANGenerator is a HiFi-GAN")
    params = {k.replace("upsample_kernal_sizes", "upsample_kernel_sizes"): v
              for k, v in (cfg.get("generator_params") or {}).items()}
    act = params.get("nonlinear_activation_params", {"negative_slope": 0.1}) or {}
    for key, want, got in (
            ("out_channels", 1, params.get("out_channels", 1)),
            ("kernel_size", 7, params.get("kernel_size", 7)),
            ("bias", True, params.get("bias", True)),
            ("use_causal_conv", False, params.get("use_causal_conv", False)),
            ("nonlinear_activation", "LeakyReLU",
             params.get("nonlinear_activation", "LeakyReLU")),
            ("nonlinear_activation_params.negative_slope", 0.1, act.get("negative_slope"))):
        if got != want:
            raise ConfigError(f"{source}: generator_params '{key}' is {got!r}; only {want!r} "
                              "(the published HiFi-GAN's) is supported")
    try:
        return GeneratorConfig(
            upsample_rates=[int(u) for u in params.get("upsample_scales", (8, 8, 2, 2))],
            upsample_kernel_sizes=[int(k) for k in
                                   params.get("upsample_kernel_sizes", (16, 16, 4, 4))],
            upsample_initial_channel=int(params.get("channels", 512)),
            resblock="1" if params.get("use_additional_convs", True) else "2",
            resblock_kernel_sizes=[int(k) for k in params.get("resblock_kernel_sizes",
                                                               (3, 7, 11))],
            resblock_dilation_sizes=[[int(d) for d in ds] for ds in params.get(
                "resblock_dilations", [(1, 3, 5)] * 3)],
            in_channels=int(params.get("in_channels", 80)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: generator_params are not numbers ({exc})") from None


def _audio(cfg: dict[str, Any], source: str) -> AudioConfig:
    if cfg.get("window", "hann") != "hann":
        raise ConfigError(f"{source}: 'window' is {cfg.get('window')!r}; only 'hann' is "
                          "supported")
    try:
        fft = int(cfg["fft_size"])
        audio = AudioConfig(
            sampling_rate=int(cfg["sampling_rate"]), n_fft=fft, hop_size=int(cfg["hop_size"]),
            win_size=int(cfg.get("win_length") or fft), num_mels=int(cfg.get("num_mels", 80)),
            fmin=float(cfg.get("fmin") or 0.0),
            fmax=None if cfg.get("fmax") is None else float(cfg["fmax"]))
    except KeyError as exc:
        raise ConfigError(f"{source}: '{exc.args[0]}' not found") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: audio settings are not numbers ({exc})") from None
    audio.validate(source)
    return audio


def read_stats(path: Path, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, scale)`` ``(channels,)`` float32 from ``stats.h5`` or ``stats.npy``."""
    try:
        if path.suffix == ".h5":
            h5py = require("h5py", f"reading {path.name}")
            with h5py.File(path, "r") as f:
                found = [f[key] for key in ("mean", "scale")]
                sizes = [int(getattr(d, "size", 0) or 0) for d in found]
                if max(sizes) > channels:  # checked before a (maybe compressed) read
                    raise CheckpointError(f"{path}: statistics of {sizes[0]} and {sizes[1]} "
                                          f"values, expected ({channels},) each")
                mean, scale = np.asarray(found[0]), np.asarray(found[1])
        else:
            both = load_npy(path)
            mean, scale = both[0], both[1]
    except (OSError, KeyError, ValueError, IndexError, TypeError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{path}: cannot read feature statistics 'mean' and 'scale' "
                              f"({exc})") from None
    mean, scale = mean.reshape(-1).astype(np.float32), scale.reshape(-1).astype(np.float32)
    if mean.shape != (channels,) or scale.shape != (channels,):
        raise CheckpointError(f"{path}: statistics of shape {mean.shape} and {scale.shape}, "
                              f"expected ({channels},) each")
    if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale != 0).all()):
        raise CheckpointError(f"{path}: statistics must be finite, with a non-zero scale")
    return mean, scale


def _stats_beside(path: Path, cfg: dict[str, Any]) -> Path | None:
    ext = {"hdf5": ".h5", "npy": ".npy"}.get(cfg.get("format"))
    for suffix in ([ext] if ext else [".h5", ".npy"]):
        if (path.parent / f"stats{suffix}").is_file():
            return path.parent / f"stats{suffix}"
    return None


def load(path: Path, config: str | os.PathLike | None, *, device: str = "cpu",
         dtype: str = "float32") -> LoadedVocoder:
    """``checkpoint-*.pkl`` with ``config.yml`` (or ``config``) and ``stats.h5``/``.npy``
    beside it; without statistics the vocoder takes the mel as it is."""
    yaml_path = path.parent / CONFIG if config is None else Path(config)
    if not yaml_path.is_file():
        raise CheckpointError(f"{path}: no {CONFIG} beside it; ParallelWaveGAN's generator "
                              "settings come from it")
    raw = read_yaml(yaml_path)
    generator = _generator(raw, str(yaml_path))
    audio = _audio(raw, str(yaml_path))
    obj = read_checkpoint(path)
    model = obj.get("model", {})
    state = tensors(model.get("generator") if isinstance(model, dict) else None)
    if not any(k.startswith("input_conv.") for k in state):
        raise CheckpointError(f"{path}: no ParallelWaveGAN generator found (expected "
                              "['model']['generator'] with 'input_conv.*' parameters)")
    state = {k: v for k, v in state.items() if k not in ("mean", "scale")}
    rules = _RENAME_TYPE2 + _RENAME if generator.resblock == "2" else _RENAME
    state = rename(fold_weight_norm(state), rules)
    frontend = CenteredLogMel(audio, NAME, "10", 1e-10)
    extra: dict[str, Any] = {"mel_frontend": frontend_spec(frontend)}
    stats = _stats_beside(path, raw)
    if stats is not None:
        mean, scale = read_stats(stats, generator.in_channels)
        extra.update(input_mean=mean.tolist(), input_scale=scale.tolist())
    cfg = HiFiGANConfig(audio=audio, generator=generator, extra=extra).validate(str(yaml_path))
    used = ", ".join([yaml_path.name] + ([stats.name] if stats else []))
    return build(state, cfg, family=NAME, source=f"{path} with {used}", device=device,
                 dtype=dtype)


__all__ = ["CONFIG", "NAME", "detect", "load", "read_stats"]
