"""A vocoder as a toolkit runs it: input normalisation and edge padding around a generator.

SpeechBrain and Coqui TTS pad the mel by ``inference_padding`` repeated edge frames on each
side before their generator (and return the padded length); ESPnet / ParallelWaveGAN
vocoders with feature statistics normalise the log-mel first (``(x - mean) / scale``).
:class:`AdaptedVocoder` does the same around any :class:`~vocoder.inference.FrameVocoder`
and trims the padding's samples afterwards, so ``T`` frames still give ``T * hop`` samples,
aligned with the input.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..config import AudioConfig
from ..errors import InputError
from ..inference import FrameVocoder


class AdaptedVocoder:
    """A :class:`~vocoder.inference.FrameVocoder` around another one.

    Args:
        inner: the generator's vocoder (e.g. :class:`vocoder.inference.Vocoder`).
        edge_frames: frames repeated at each end before vocoding (SpeechBrain and Coqui TTS:
            5); their samples are cut from the output.
        mean, scale: ``(channels,)`` statistics; frames are normalised to ``(x - mean) /
            scale`` before the generator (ESPnet / ParallelWaveGAN ``stats.h5``).
    """

    def __init__(self, inner: FrameVocoder, edge_frames: int = 0, mean: Tensor | None = None,
                 scale: Tensor | None = None) -> None:
        if (mean is None) != (scale is None):
            raise InputError("mean and scale go together")
        for name, stat in (("mean", mean), ("scale", scale)):
            if stat is not None and tuple(stat.shape) != (inner.input_channels,):
                raise InputError(f"{name} has shape {tuple(stat.shape)}, expected "
                                 f"({inner.input_channels},)")
        self.inner, self.edge_frames = inner, edge_frames
        self.mean = None if mean is None else mean.float().to(inner.device).view(1, -1, 1)
        self.scale = None if scale is None else scale.float().to(inner.device).view(1, -1, 1)
        self.audio: AudioConfig = inner.audio
        self.input_channels = inner.input_channels
        self.upsample_factor = inner.upsample_factor
        self.context_frames = inner.context_frames
        self.device = inner.device
        self.dtype = getattr(inner, "dtype", torch.float32)

    @property
    def sample_rate(self) -> int:
        return self.audio.sampling_rate

    def check_frames(self, frames: np.ndarray | Tensor, source: str = "input") -> Tensor:
        return self.inner.check_frames(frames, source)

    @torch.inference_mode()
    def __call__(self, frames: Tensor) -> Tensor:
        """``(batch, input_channels, T)`` -> float32 ``(batch, T * upsample_factor)``."""
        if frames.dim() != 3 or frames.shape[1] != self.input_channels:
            raise InputError(f"vocoder expects frames of shape (batch, {self.input_channels}, "
                             f"frames), got {tuple(frames.shape)}")
        x = frames.to(self.device).float()
        if self.mean is not None:
            x = (x - self.mean) / self.scale
        if self.edge_frames:
            x = torch.nn.functional.pad(x, (self.edge_frames, self.edge_frames), "replicate")
        wav = self.inner(x)
        if self.edge_frames:
            cut = self.edge_frames * self.upsample_factor
            wav = wav[:, cut: wav.shape[-1] - cut]
        return wav


__all__ = ["AdaptedVocoder"]
