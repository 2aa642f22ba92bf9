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

import numpy as np
import torch
from torch import Tensor

from ..checkpoint import CheckpointError, is_torchscript, resolve_config
from ..chunking import vocode_batched
from ..config import AudioConfig, HiFiGANConfig
from ..errors import InputError
from ..frames import check_frames
from ..generator import receptive_field_frames
from ..inference import pick_device
from ..mel import frontend_from_spec
from .configfiles import json_beside
from .loaded import LoadedVocoder

NAME = "torchscript"
DEFAULT_CONTEXT = 64


def detect(path: Path) -> bool:
    return is_torchscript(path)


class ScriptedVocoder:
    """A :class:`~vocoder.inference.FrameVocoder` running a TorchScript module in float32.

    Args:
        module: the loaded archive.
        config: its audio settings (``audio``) and, when known, generator shape (context).
        context_frames: frames of context for windowed vocoding.
        max_frames: longer inputs are vocoded in windows of this many frames.
    """

    def __init__(self, module: torch.jit.ScriptModule, config: HiFiGANConfig,
                 context_frames: int, device: str | torch.device = "cpu",
                 max_frames: int | None = 4096) -> None:
        self.device = pick_device(device) if isinstance(device, str) else device
        self.module = module.eval().to(self.device)
        self.audio: AudioConfig = config.audio
        self.input_channels = config.input_channels
        self.upsample_factor = config.audio.hop_size
        self.context_frames = context_frames
        self.max_frames = max_frames
        self.dtype = torch.float32

    @property
    def sample_rate(self) -> int:
        return self.audio.sampling_rate

    def check_frames(self, frames: np.ndarray | Tensor, source: str = "input") -> Tensor:
        return check_frames(frames, self.input_channels, source)

    def _run(self, frames: Tensor) -> Tensor:
        out = self.module(frames)
        if not isinstance(out, Tensor):
            raise InputError(f"the TorchScript module returned {type(out).__name__}, not a "
                             "tensor")
        if out.dim() == 3 and out.shape[1] == 1:
            out = out.squeeze(1)
        want = (frames.shape[0], frames.shape[-1] * self.upsample_factor)
        if tuple(out.shape) != want:
            raise InputError(f"the TorchScript module turned frames {tuple(frames.shape)} into "
                             f"{tuple(out.shape)}; expected {want} (hop_size "
                             f"{self.upsample_factor} samples per frame)")
        return out.float()

    @torch.inference_mode()
    def __call__(self, frames: Tensor) -> Tensor:
        """``(batch, input_channels, T)`` -> float32 ``(batch, T * hop_size)``."""
        if frames.dim() != 3 or frames.shape[1] != self.input_channels:
            raise InputError(f"vocoder expects frames of shape (batch, {self.input_channels}, "
                             f"frames), got {tuple(frames.shape)}")
        frames = frames.to(self.device, torch.float32)
        if self.max_frames is None or frames.shape[-1] <= self.max_frames:
            return self._run(frames)
        pieces = vocode_batched(self._run, list(frames), hop=self.upsample_factor,
                                context=self.context_frames, pad_value=None,
                                chunk_frames=self.max_frames,
                                max_batch_frames=self.max_frames * frames.shape[0],
                                device=self.device, dtype=torch.float32)
        return torch.stack(pieces)


def load(path: Path, config: str | os.PathLike | HiFiGANConfig | None, *,
         device: str = "cpu", dtype: str = "float32") -> LoadedVocoder:
    """A ``torch.jit.save`` archive with ``config`` or the ``config.json`` beside it."""
    if dtype != "float32":
        raise InputError(f"{path}: a TorchScript vocoder runs as exported, in float32; got "
                         f"dtype {dtype}")
    cfg, cfg_source = resolve_config(path, config)
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError, OSError) as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise CheckpointError(f"{path}: cannot load the TorchScript archive ({detail})") from None
    has_shape = config is not None or (json_beside(path) or {}).get("upsample_rates") is not None
    context = receptive_field_frames(cfg.generator) + 1 if has_shape else DEFAULT_CONTEXT
    vocoder = ScriptedVocoder(module, cfg, context, device)
    frontend = (None if cfg.is_feature_vocoder
                else frontend_from_spec(cfg.extra.get("mel_frontend"), cfg.audio, cfg_source))
    if frontend is not None:
        frontend = frontend.to(vocoder.device)
    return LoadedVocoder(vocoder, frontend, NAME, f"{path} with {cfg_source}")


__all__ = ["DEFAULT_CONTEXT", "NAME", "ScriptedVocoder", "detect", "load"]
