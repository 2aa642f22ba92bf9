"""Loading and saving generator checkpoints in the published formats.

One entry point, :func:`load_generator`, detects which of these a file is:

``hifigan``
    published training checkpoint ``g_XXXXXXXX``: ``{"generator": state_dict}`` with
    weight-norm parameters ``weight_g`` / ``weight_v`` (jik876/hifi-gan, kNN-VC);
``hifigan-parametrized``
    the same saved by newer PyTorch: ``parametrizations.weight.original0`` / ``original1``;
``plain``
    a state dict without weight norm, bare or under ``"generator"`` (torchaudio's
    HiFiGANVocoder, or a generator exported for inference).

A feature-input (kNN-VC) vocoder is any of these with ``lin_pre`` weights; its config has
``hubert_dim`` / ``hifi_dim``. Files are read with ``torch.load(weights_only=True)``: a
checkpoint that would execute code when unpickled is refused.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from .atomic import atomic_path
from .errors import InputError
from .config import ConfigError, HiFiGANConfig, PRESETS, preset
from .generator import HiFiGANGenerator

_LEGACY = {"weight_g": "parametrizations.weight.original0",
           "weight_v": "parametrizations.weight.original1"}


class CheckpointError(InputError):
    """A checkpoint that cannot be loaded; the message names the file and the reason."""


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """``torch.load`` a file safely (tensors and plain containers only) onto the CPU."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: checkpoint file is empty")
    try:
        with warnings.catch_warnings():  # garbage reads as an odd pickle protocol: we say corrupt
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Unsupported global" in text or "can still be loaded" in text:
            found = re.search(r"GLOBAL (\S+)", text)
            what = f" ({found.group(1)})" if found else ""
            raise CheckpointError(
                f"{path}: refused: the checkpoint contains Python objects{what} that would run "
                "code when loaded; only tensors and plain containers are accepted (re-save it "
                "with torch.save(model.state_dict(), ...) from a trusted environment)") from None
        raise CheckpointError(f"{path}: not a PyTorch checkpoint, or the file is corrupt") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - garbage makes the unpickler fail in any way
        detail = (str(exc).splitlines() or [type(exc).__name__])[0][:120] or type(exc).__name__
        raise CheckpointError(f"{path}: not a PyTorch checkpoint, or the file is corrupt "
                              f"({detail})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    return obj


def generator_state(obj: Mapping[str, Any], path: str | os.PathLike = "checkpoint"
                    ) -> tuple[dict[str, Tensor], str]:
    """Extract the generator's state dict and name its format (see module docstring).

    Returned keys use the current PyTorch names: weight-norm checkpoints come back with
    ``parametrizations.weight.original0/1``, plain ones with ``weight``.
    """
    state = obj.get("generator", obj)
    if isinstance(state, Mapping) and "state_dict" in state and "conv_pre.bias" not in state:
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not any(str(k).startswith("conv_pre.") for k in state):
        keys = ", ".join(list(map(str, obj.keys()))[:6])
        raise CheckpointError(
            f"{path}: no HiFi-GAN generator found (expected 'conv_pre.*' parameters, "
            f"top-level keys: {keys}); a discriminator checkpoint 'do_*' holds no generator")
    state = {str(k): v for k, v in state.items() if isinstance(v, Tensor)}
    if any(k.endswith(".weight_g") for k in state):
        fmt = "hifigan"
        renamed = {}
        for key, value in state.items():
            stem, _, leaf = key.rpartition(".")
            renamed[f"{stem}.{_LEGACY[leaf]}" if leaf in _LEGACY else key] = value
        state = renamed
    elif any(".parametrizations.weight." in k for k in state):
        fmt = "hifigan-parametrized"
    else:
        fmt = "plain"
    return state, fmt


def legacy_weight_norm_names(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename ``parametrizations.weight.original0/1`` to the published ``weight_g/weight_v``."""
    back = {v: k for k, v in _LEGACY.items()}
    out = {}
    for key, value in state.items():
        for new, old in back.items():
            if key.endswith("." + new):
                key = key[: -len(new)] + old
                break
        out[key] = value
    return out


def resolve_config(checkpoint: str | os.PathLike, config: str | os.PathLike | HiFiGANConfig | None
                   ) -> tuple[HiFiGANConfig, str]:
    """The config for a checkpoint and where it came from.

    ``config`` may be a :class:`HiFiGANConfig`, a path to a published ``config.json``, or a
    preset name (``v1``, ``v2``, ``v3``, ``knnvc``). ``None`` looks for ``config.json`` beside
    the checkpoint.
    """
    if isinstance(config, HiFiGANConfig):
        return config, "given config"
    if config is None:
        beside = Path(checkpoint).parent / "config.json"
        if not beside.is_file():
            raise CheckpointError(
                f"{checkpoint}: no config given and no config.json beside it; pass --config "
                f"with the published config.json or a preset ({', '.join(PRESETS)})")
        return HiFiGANConfig.load(beside), str(beside)
    if str(config).lower() in PRESETS and not Path(config).is_file():
        return preset(str(config)), f"preset {str(config).lower()}"
    return HiFiGANConfig.load(config), str(config)


def load_generator(
    path: str | os.PathLike,
    config: str | os.PathLike | HiFiGANConfig | None = None,
    *,
    weight_norm: bool = False,
) -> tuple[HiFiGANGenerator, HiFiGANConfig]:
    """Load a generator checkpoint in any supported format, with its config.

    Args:
        path: checkpoint file (``g_XXXXXXXX``, ``*.pt``, ``*.pth``).
        config: config, config path or preset name; default ``config.json`` beside ``path``.
        weight_norm: keep weight norm (for training); by default it is folded for inference.

    Returns:
        The generator in eval mode on the CPU, and its config.

    Raises:
        CheckpointError: missing/corrupt/unsafe file, or shapes that do not fit the config
            (the message names the first mismatching parameter with both shapes).
        ConfigError: an unreadable or invalid config file.
    """
    state, fmt = generator_state(read_checkpoint(path), path)
    cfg, cfg_source = resolve_config(path, config)
    has_wn = fmt != "plain"
    generator = HiFiGANGenerator(cfg.generator, weight_norm=has_wn)
    _check_fits(generator, state, path, cfg_source)
    generator.load_state_dict(state)
    if has_wn and not weight_norm:
        generator.remove_weight_norm()
    elif weight_norm and not has_wn:
        from torch.nn.utils.parametrizations import weight_norm as wn

        for conv in generator._convs():
            wn(conv)
    return generator.eval(), cfg


def _check_fits(generator: HiFiGANGenerator, state: Mapping[str, Tensor], path: Any,
                cfg_source: str) -> None:
    expected = generator.state_dict()
    if "lin_pre.weight" in state and "lin_pre.weight" not in expected:
        raise CheckpointError(
            f"{path}: this is a feature-input (kNN-VC) vocoder with 'lin_pre' of shape "
            f"{tuple(state['lin_pre.weight'].shape)}, but {cfg_source} describes a mel vocoder; "
            "use a config with 'hubert_dim' and 'hifi_dim' (e.g. --config knnvc)")
    if "lin_pre.weight" in expected and "lin_pre.weight" not in state:
        raise CheckpointError(
            f"{path}: {cfg_source} describes a feature-input vocoder (hubert_dim/hifi_dim) but "
            "the checkpoint has no 'lin_pre' weights: it is a mel vocoder")
    for key, want in expected.items():
        if key not in state:
            raise CheckpointError(f"{path}: parameter '{key}' missing from the checkpoint "
                                  f"(expected by {cfg_source}); the config does not describe "
                                  "this checkpoint")
        got = state[key]
        if tuple(got.shape) != tuple(want.shape):
            raise CheckpointError(
                f"{path}: parameter '{key}' has shape {tuple(got.shape)} in the checkpoint but "
                f"{tuple(want.shape)} in {cfg_source}")
    extra = [k for k in state if k not in expected]
    if extra:
        raise CheckpointError(f"{path}: unexpected parameter '{extra[0]}' (and {len(extra) - 1} "
                              f"more) not in the generator described by {cfg_source}")


def save_generator(path: str | os.PathLike, generator: HiFiGANGenerator,
                   config: HiFiGANConfig | None = None) -> None:
    """Write ``{"generator": state_dict}`` in the published layout, atomically.

    A weight-norm generator is saved with the published ``weight_g``/``weight_v`` names so
    the published code loads it too. With ``config``, ``config.json`` is written beside it.
    """
    state = {k: v.detach().cpu() for k, v in generator.state_dict().items()}
    state = legacy_weight_norm_names(state)
    with atomic_path(path) as tmp:
        torch.save({"generator": state}, tmp)
    if config is not None:
        config.save(Path(path).parent / "config.json")


__all__ = ["CheckpointError", "ConfigError", "generator_state", "legacy_weight_norm_names",
           "load_generator", "read_checkpoint", "resolve_config", "save_generator"]
