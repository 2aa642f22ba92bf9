"""TorchScript exports of a generator (``torch.jit.save``), run as they are.

A TorchScript archive is a program: loading it runs no Python (only TorchScript's own
interpreter, on torch operations), and calling it runs the graph its author exported. Only
load archives you trust as you would trust the code that made them.

The module is called with frames ``(batch, channels, T)`` and must return ``(batch, 1, N)`` or
``(batch, N)`` with ``N = T * hop_size``. Its audio settings come from the config given or a
``config.json`` beside it (a HiFi-GAN config, or one ``vocoder convert`` wrote: its
``mel_frontend`` key names the family's mel). Long inputs are vocoded in windows with the
context of the config's generator shape (or 64 frames when the config has none).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor, nn

from ..checkpoint import CheckpointError, is_torchscript, resolve_config
from ..safeload import MAX_CHECKPOINT_BYTES, TorchFileError, check_archive, first_nonfinite
from ..config import HiFiGANConfig
from ..errors import InputError
from ..inference import Vocoder
from ..mel import frontend_from_spec
from .configfiles import json_beside
from .loaded import LoadedVocoder

NAME = "torchscript"
DEFAULT_CONTEXT = 64


def detect(path: Path) -> bool:
    return is_torchscript(path)


class ScriptedGenerator(nn.Module):
    """A TorchScript module as a generator for :class:`vocoder.inference.Vocoder`: frames
    ``(batch, channels, T)`` -> ``(batch, 1, T * hop)``, any other output length an error."""

    def __init__(self, module: torch.jit.ScriptModule, hop: int) -> None:
        super().__init__()
        self.module, self.hop = module, hop

    @property
    def has_weight_norm(self) -> bool:
        return False

    def remove_weight_norm(self) -> "ScriptedGenerator":
        return self

    def forward(self, frames: Tensor) -> Tensor:
        out = self.module(frames)
        if not isinstance(out, Tensor):
            raise InputError(f"the TorchScript module returned {type(out).__name__}, not a "
                             "tensor")
        if out.dim() == 2:
            out = out.unsqueeze(1)
        want = (frames.shape[0], 1, frames.shape[-1] * self.hop)
        if tuple(out.shape) != want:
            raise InputError(f"the TorchScript module turned frames {tuple(frames.shape)} into "
                             f"{tuple(out.shape)}; expected {want} (hop_size {self.hop} samples "
                             "per frame)")
        return out


def load(path: Path, config: str | os.PathLike | HiFiGANConfig | None, *,
         device: str = "cpu", dtype: str = "float32") -> LoadedVocoder:
    """A ``torch.jit.save`` archive with ``config`` or the ``config.json`` beside it."""
    if dtype != "float32":
        raise InputError(f"{path}: a TorchScript vocoder runs as exported, in float32; got "
                         f"dtype {dtype}")
    cfg, cfg_source = resolve_config(path, config)
    try:  # the same size and inflation checks as every checkpoint (vocoder.safeload)
        check_archive(path, MAX_CHECKPOINT_BYTES, "TorchScript archive")
    except TorchFileError as exc:
        raise CheckpointError(str(exc)) from None
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError, OSError) as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise CheckpointError(f"{path}: cannot load the TorchScript archive ({detail})") from None
    bad = first_nonfinite(dict(module.state_dict()))
    if bad is not None:
        raise CheckpointError(f"{path}: {bad} holds NaN or infinite values; the archive is "
                              "broken and would make silence or noise")
    vocoder = Vocoder(ScriptedGenerator(module, cfg.audio.hop_size), cfg, device=device)
    vocoder.upsample_factor = cfg.audio.hop_size
    has_shape = config is not None or (json_beside(path) or {}).get("upsample_rates") is not None
    if not has_shape:  # Vocoder took the context of a default shape
        vocoder.context_frames = DEFAULT_CONTEXT
    frontend = (None if cfg.is_feature_vocoder
                else frontend_from_spec(cfg.extra.get("mel_frontend"), cfg.audio, cfg_source))
    if frontend is not None:
        frontend = frontend.to(vocoder.device)
    return LoadedVocoder(vocoder, frontend, NAME, f"{path} with {cfg_source}")


__all__ = ["DEFAULT_CONTEXT", "NAME", "ScriptedGenerator", "detect", "load"]
