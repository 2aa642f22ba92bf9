"""Running vocoders: the interface every vocoder offers, and the HiFi-GAN one.

:class:`FrameVocoder` is what a caller can rely on from any vocoder, a neural mel vocoder, a
feature-input (kNN-VC) vocoder or Griffin-Lim alike: its audio settings, the shape of the
frames it takes, how many samples a frame becomes, the context that makes chunked and batched
vocoding exact, and ``__call__`` from a batch of frames to a batch of waveforms.
:func:`vocode` runs any of them over sequences of any lengths (chunks and batches, see
:mod:`vocoder.chunking`).

:class:`Vocoder` owns one HiFi-GAN generator with weight norm folded away, on one device, in
one dtype, and runs it under ``torch.inference_mode``. It is what the ``vocoder infer``
command, the synthesis pipeline and the benchmarks call.

Nothing here changes process-wide settings: :func:`tune_cpu_allocator` is for entry points
(the commands, the app, the benchmarks) to call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Literal, Protocol, Sequence, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from .checkpoint import load_generator
from .chunking import LOG_FLOOR, vocode_batched
from .config import AudioConfig, HiFiGANConfig
from .errors import InputError
from .frames import check_frames
from .generator import HiFiGANGenerator, receptive_field_frames

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; otherwise the named device (checked)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise InputError(f"device {device!r}: expected auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device}: CUDA is not available on this machine")
    return dev


def pick_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """Resolve a dtype name; float16 is refused on CPU (slow there, and no gain in quality)."""
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    else:
        try:
            resolved = DTYPES[dtype]
        except KeyError:
            raise InputError(f"dtype {dtype!r}: choose one of {', '.join(DTYPES)}") from None
    if resolved == torch.float16 and device.type == "cpu":
        raise InputError("dtype float16 needs a GPU; on CPU use float32 or bfloat16")
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


@runtime_checkable
class FrameVocoder(Protocol):
    """What every vocoder offers (HiFi-GAN mel and feature vocoders, Griffin-Lim).

    Attributes:
        audio: sample rate and, for mel vocoders, the mel settings the frames were made with.
        input_channels: channels per frame: mels, or the feature dim of a feature vocoder.
        upsample_factor: output samples per frame.
        context_frames: frames each side that can change a frame's output; chunks and batches
            with that much context give the same samples as the whole sequence.
        device: where it runs (inputs are moved there).
    """

    audio: AudioConfig
    input_channels: int
    upsample_factor: int
    context_frames: int
    device: torch.device

    @property
    def sample_rate(self) -> int: ...

    def __call__(self, frames: Tensor) -> Tensor:
        """``(batch, input_channels, T)`` -> float32 ``(batch, T * upsample_factor)``."""
        ...

    def check_frames(self, frames: np.ndarray | Tensor, source: str = "input") -> Tensor:
        """``(C, T)`` or ``(1, C, T)`` -> float32 ``(1, C, T)``, or an error naming ``source``."""
        ...


def vocode(vocoder: FrameVocoder, frames: Sequence[Tensor], *, exact: bool = True,
           chunk_frames: int = 4096, max_batch_frames: int = 4096, max_batch_size: int = 64,
           pad_value: float = LOG_FLOOR) -> list[Tensor]:
    """Vocode sequences ``(input_channels, T_i)`` of any lengths with any vocoder.

    Long sequences are vocoded in chunks with ``vocoder.context_frames`` of context (the
    result equals the whole sequence at once); sequences share batches as
    :func:`vocoder.chunking.vocode_batched` describes.

    Args:
        exact: ``True``: nothing is padded, each output equals the vocoder run on its whole
            sequence (the published inference). ``False``: sequences of different lengths
            share padded batches, each followed by ``pad_value`` frames (silence for log-mels),
            so outputs do not depend on the batch but their last frames hear silence instead
            of zeros.
        chunk_frames: longest piece vocoded at once (memory bound).
        max_batch_frames, max_batch_size: padded frames and sequences per vocoder call.
        pad_value: padding for ``exact=False`` (the log-mel floor).

    Returns:
        float32 ``(T_i * upsample_factor,)`` tensors on the vocoder's device.
    """
    return vocode_batched(vocoder, frames, hop=vocoder.upsample_factor,
                          context=vocoder.context_frames, pad_value=None if exact else pad_value,
                          chunk_frames=chunk_frames, max_batch_frames=max_batch_frames,
                          max_batch_size=max_batch_size, device=vocoder.device,
                          dtype=getattr(vocoder, "dtype", torch.float32))


class Vocoder:
    """A generator ready for inference.

    Args:
        generator: a HiFi-GAN generator (weight norm is folded here if present).
        config: its config (sample rate, hop size, input channels); checked, so a mel
            vocoder's hop must equal its upsampling (else the audio would have the wrong
            length).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``...
        dtype: ``float32``, ``bfloat16`` or ``float16`` (GPU only). Output is float32.
        max_frames: longer inputs are vocoded in windows of this many frames, each with
            enough context on both sides (the generator's receptive field) that the result
            equals vocoding the whole input at once (:func:`vocode`); this bounds memory for
            long audio (about 1 GB for V1 at the default). ``None`` never splits.
    """

    def __init__(self, generator: HiFiGANGenerator, config: HiFiGANConfig,
                 device: str | torch.device = "auto",
                 dtype: Literal["float32", "bfloat16", "float16"] | torch.dtype = "float32",
                 max_frames: int | None = 4096) -> None:
        config.validate("vocoder config")
        self.device = pick_device(device) if isinstance(device, str) else device
        self.dtype = pick_dtype(dtype, self.device)
        if generator.has_weight_norm:
            generator.remove_weight_norm()
        for p in generator.parameters():
            p.requires_grad_(False)
        self.generator = generator.eval().to(self.device, self.dtype)
        self.config = config
        self.audio = config.audio
        self.input_channels = config.input_channels
        self.upsample_factor = config.generator.upsample_factor
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
        return self.audio.sampling_rate

    @property
    def is_feature_vocoder(self) -> bool:
        """True for vocoders driven by SSL features (``lin_pre``) rather than mels."""
        return self.config.is_feature_vocoder

    def check_frames(self, frames: np.ndarray | Tensor, source: str = "input") -> Tensor:
        """``(C, T)`` or ``(1, C, T)`` -> ``(1, C, T)``; see :func:`vocoder.frames.check_frames`."""
        return check_frames(frames, self.input_channels, source)

    @torch.inference_mode()
    def __call__(self, frames: Tensor) -> Tensor:
        """``(batch, channels, frames)`` -> float32 waveform ``(batch, frames * upsample)``,
        on the vocoder's device. Inputs longer than ``max_frames`` go through :func:`vocode`
        in windows (same output)."""
        if frames.dim() != 3 or frames.shape[1] != self.input_channels:
            raise InputError(f"vocoder expects frames of shape (batch, {self.input_channels}, "
                             f"frames), got {tuple(frames.shape)}")
        total = frames.shape[-1]
        if self.max_frames is None or total <= self.max_frames:
            return self.generator(frames.to(self.device, self.dtype)).squeeze(1).float()
        pieces = vocode_batched(self._window, list(frames), hop=self.upsample_factor,
                                context=self.context_frames, pad_value=None,
                                chunk_frames=self.max_frames,
                                max_batch_frames=self.max_frames * frames.shape[0],
                                device=self.device, dtype=self.dtype)
        return torch.stack(pieces)

    def _window(self, frames: Tensor) -> Tensor:
        """One window of a long input: the generator alone."""
        return self.generator(frames).squeeze(1).float()

    def synthesize(self, frames: np.ndarray | Tensor, source: str = "input") -> np.ndarray:
        """One utterance: ``(C, T)`` or ``(1, C, T)`` array -> float32 ``(T * upsample,)``."""
        x = self.check_frames(frames, source)
        return self(x)[0].cpu().numpy()


__all__ = ["DTYPES", "FrameVocoder", "Vocoder", "pick_device", "pick_dtype",
           "tune_cpu_allocator", "vocode"]
