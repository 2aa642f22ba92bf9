"""Running a trained generator: frames in, waveform out, on a chosen device and dtype.

:class:`Vocoder` owns one generator with weight norm folded away, on one device, in one
dtype, and runs it under ``torch.inference_mode``. It is what the ``vocoder infer`` command,
the synthesis pipeline and the benchmarks call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from .checkpoint import load_generator
from .config import HiFiGANConfig
from .frames import check_frames
from .generator import HiFiGANGenerator, receptive_field_frames

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; otherwise the named device (checked)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine")
    return dev


def pick_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """Resolve a dtype name; float16 is refused on CPU (slow there, and no gain in quality)."""
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    else:
        try:
            resolved = DTYPES[dtype]
        except KeyError:
            raise ValueError(f"dtype {dtype!r}: choose one of {', '.join(DTYPES)}") from None
    if resolved == torch.float16 and device.type == "cpu":
        raise ValueError("dtype float16 needs a GPU; on CPU use float32 or bfloat16")
    return resolved


def tune_cpu_allocator() -> bool:
    """Keep large freed blocks in the heap instead of returning them to the OS (glibc only).

    HiFi-GAN's last stages allocate tens of megabytes per layer; by default glibc maps and
    unmaps each such block, so every layer pays page faults again. Raising the mmap and trim
    thresholds lets the allocator reuse the memory. Process-wide; returns whether it applied.
    """
    libc_name = ctypes.util.find_library("c")
    if os.name != "posix" or libc_name is None:
        return False
    try:
        libc = ctypes.CDLL(libc_name)
        m_trim_threshold, m_mmap_threshold = -1, -3
        big = 1 << 30
        return bool(libc.mallopt(m_mmap_threshold, big)) and bool(libc.mallopt(m_trim_threshold, big))
    except (OSError, AttributeError):
        return False


class Vocoder:
    """A generator ready for inference.

    Args:
        generator: a HiFi-GAN generator (weight norm is folded here if present).
        config: its config (sample rate, hop size, input channels).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``...
        dtype: ``float32``, ``bfloat16`` or ``float16`` (GPU only). Output is float32.
        max_frames: longer inputs are vocoded in windows of this many frames, each with
            enough context on both sides (the generator's receptive field) that the result
            equals vocoding the whole input at once; this bounds memory for long audio
            (about 1 GB for V1 at the default). ``None`` never splits.
    """

    def __init__(self, generator: HiFiGANGenerator, config: HiFiGANConfig,
                 device: str | torch.device = "auto",
                 dtype: Literal["float32", "bfloat16", "float16"] | torch.dtype = "float32",
                 max_frames: int | None = 4096) -> None:
        self.device = pick_device(device) if isinstance(device, str) else device
        self.dtype = pick_dtype(dtype, self.device)
        if self.device.type == "cpu":
            tune_cpu_allocator()  # process-wide, idempotent: 1.2-1.7x on CPU (benchmarks/README.md)
        if generator.has_weight_norm:
            generator.remove_weight_norm()
        for p in generator.parameters():
            p.requires_grad_(False)
        self.generator = generator.eval().to(self.device, self.dtype)
        self.config = config
        self.max_frames = max_frames
        self.context_frames = receptive_field_frames(config.generator) + 1

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, config: str | os.PathLike | None = None,
                        device: str = "auto", dtype: str = "float32") -> "Vocoder":
        """Load any supported checkpoint (see :func:`vocoder.checkpoint.load_generator`)."""
        generator, cfg = load_generator(path, config)
        return cls(generator, cfg, device=device, dtype=dtype)

    @property
    def sample_rate(self) -> int:
        return self.config.audio.sampling_rate

    @property
    def input_channels(self) -> int:
        """Channels per input frame: number of mels, or the feature dim of a feature vocoder."""
        return self.config.input_channels

    @property
    def upsample_factor(self) -> int:
        return self.config.generator.upsample_factor

    def check_frames(self, frames: np.ndarray | Tensor, source: str = "input") -> Tensor:
        """``(C, T)`` or ``(1, C, T)`` -> ``(1, C, T)``; see :func:`vocoder.frames.check_frames`."""
        return check_frames(frames, self.input_channels, source)

    @torch.inference_mode()
    def __call__(self, frames: Tensor) -> Tensor:
        """``(batch, channels, frames)`` -> float32 waveform ``(batch, frames * upsample)``,
        on the vocoder's device."""
        x = frames.to(self.device, self.dtype)
        total = x.shape[-1]
        if self.max_frames is None or total <= self.max_frames:
            return self.generator(x).squeeze(1).float()
        hop, ctx = self.upsample_factor, self.context_frames
        pieces = []
        for start in range(0, total, self.max_frames):
            stop = min(start + self.max_frames, total)
            lo, hi = max(0, start - ctx), min(total, stop + ctx)
            y = self.generator(x[..., lo:hi]).squeeze(1)
            pieces.append(y[:, (start - lo) * hop:(stop - lo) * hop].float())
        return torch.cat(pieces, dim=-1)

    def synthesize(self, frames: np.ndarray | Tensor, source: str = "input") -> np.ndarray:
        """One utterance: ``(C, T)`` or ``(1, C, T)`` array -> float32 ``(T * upsample,)``."""
        x = self.check_frames(frames, source)
        return self(x)[0].cpu().numpy()
