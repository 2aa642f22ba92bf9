"""Griffin-Lim inversion of the HiFi-GAN log-mel spectrogram: a vocoder that needs no weights.

For when no neural vocoder is at hand. Quality is far below HiFi-GAN's (phasey, metallic), so
callers must ask for it by name; nothing falls back to it silently.

Steps, for log-mel frames ``(batch, num_mels, frames)`` made by :class:`vocoder.mel.MelSpectrogram`:

1. ``exp`` undoes the log; the Moore-Penrose pseudo-inverse of the Slaney mel filterbank maps
   mel bands back to linear-frequency magnitudes, clamped at 0 (the pseudo-inverse can go
   negative; bins above ``fmax`` come back as 0).
2. Fast Griffin-Lim (Perraudin, Balazs and Sondergaard, 2013): alternate between the
   magnitudes and the STFT of the current signal's inverse STFT, with momentum, from seeded
   random phases, so the same frames always give the same samples.
3. Alignment: frame ``t`` of the HiFi-GAN frontend (reflect padding of ``(n_fft - hop) / 2``,
   ``center=False``) is centred on sample ``t * hop + hop / 2``, while a centred inverse STFT
   puts it at ``t * hop``; the output is shifted by ``hop / 2`` samples to match and is
   ``frames * hop`` samples long, like a HiFi-GAN generator's output.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .config import AudioConfig
from .errors import InputError
from .frames import check_frames
from .inference import pick_device
from .mel import mel_filterbank

LOG_FLOOR = math.log(1e-5)  # log-mel of silence: the frontend clamps mel energies at 1e-5


class GriffinLimVocoder:
    """Log-mel frames -> waveform by filterbank pseudo-inversion and fast Griffin-Lim.

    Same calling convention as :class:`vocoder.inference.Vocoder`: ``__call__`` takes
    ``(batch, num_mels, frames)`` and returns ``(batch, frames * hop_size)`` float32.

    Args:
        audio: the mel settings the frames were made with (sample rate, STFT, mel bands).
        n_iter: Griffin-Lim iterations (more: cleaner, slower).
        momentum: fast Griffin-Lim momentum in [0, 1) (0 is the original algorithm).
        seed: seed of the initial random phases (each utterance of a batch is seeded alike,
            so its output does not depend on its neighbours' phases).
        device: ``auto``, ``cpu``, ``cuda``...; computation is float32.
    """

    name = "griffinlim"

    def __init__(self, audio: AudioConfig, n_iter: int = 32, momentum: float = 0.99,
                 seed: int = 0, device: str | torch.device = "auto") -> None:
        audio.validate("griffinlim")
        if n_iter < 1:
            raise InputError(f"n_iter must be at least 1, got {n_iter}")
        if not 0.0 <= momentum < 1.0:
            raise InputError(f"momentum must be in [0, 1), got {momentum}")
        self.audio = audio
        self.n_iter = n_iter
        self.momentum = momentum
        self.seed = seed
        self.device = pick_device(device) if isinstance(device, str) else device
        self.dtype = torch.float32
        basis = mel_filterbank(audio).double()
        self.inverse_basis = torch.linalg.pinv(basis).float().to(self.device)  # (freq, mels)
        self.window = torch.hann_window(audio.win_size, device=self.device)

    @property
    def sample_rate(self) -> int:
        return self.audio.sampling_rate

    @property
    def input_channels(self) -> int:
        return self.audio.num_mels

    @property
    def upsample_factor(self) -> int:
        """Output samples per frame (the hop size)."""
        return self.audio.hop_size

    @property
    def context_frames(self) -> int:
        """Frames on each side that shape a frame's output (one STFT window, rounded up)."""
        return math.ceil(self.audio.n_fft / self.audio.hop_size) + 1

    def check_frames(self, frames: np.ndarray | Tensor, source: str = "input") -> Tensor:
        """``(num_mels, T)`` or ``(1, num_mels, T)`` -> ``(1, num_mels, T)``; see
        :func:`vocoder.frames.check_frames`."""
        return check_frames(frames, self.input_channels, source)

    def magnitudes(self, mel: Tensor) -> Tensor:
        """Log-mel ``(batch, num_mels, T)`` -> linear magnitudes ``(batch, n_fft // 2 + 1, T)``."""
        return torch.matmul(self.inverse_basis, torch.exp(mel.float())).clamp_(min=0.0)

    def _stft(self, wav: Tensor) -> Tensor:
        return torch.stft(wav, self.audio.n_fft, hop_length=self.audio.hop_size,
                          win_length=self.audio.win_size, window=self.window, center=True,
                          return_complex=True)

    def _istft(self, spec: Tensor, length: int) -> Tensor:
        return torch.istft(spec, self.audio.n_fft, hop_length=self.audio.hop_size,
                           win_length=self.audio.win_size, window=self.window, center=True,
                           length=length)

    @torch.inference_mode()
    def __call__(self, frames: Tensor) -> Tensor:
        """``(batch, num_mels, T)`` log-mel -> float32 ``(batch, T * hop_size)`` on the device."""
        if frames.dim() != 3 or frames.shape[1] != self.input_channels:
            raise InputError(f"griffinlim expects input of shape (batch, {self.input_channels}, "
                             f"frames), got {tuple(frames.shape)}")
        batch, _, n = frames.shape
        hop = self.audio.hop_size
        mag = self.magnitudes(frames.to(self.device))
        # A centred STFT reflect-pads n_fft / 2 samples, so it needs a signal longer than that:
        # very short inputs get silent frames appended (cut off again below).
        shortest = self.audio.n_fft // (2 * hop) + 2
        if n < shortest:
            mag = torch.nn.functional.pad(mag, (0, shortest - n))
        frames_used = mag.shape[-1]
        length = (frames_used - 1) * hop  # a centred STFT of this many samples has frames_used frames
        generator = torch.Generator(device="cpu")
        phases = []
        for _ in range(batch):
            generator.manual_seed(self.seed)
            phases.append(torch.rand(mag.shape[1:], generator=generator))
        angles = torch.polar(torch.ones_like(mag), 2 * math.pi * torch.stack(phases).to(self.device))
        previous = None
        for _ in range(self.n_iter):
            rebuilt = self._stft(self._istft(mag * angles, length))
            target = rebuilt if previous is None else rebuilt + self.momentum * (rebuilt - previous)
            previous = rebuilt
            angles = target / target.abs().clamp_(min=1e-16)
        wav = self._istft(mag * angles, length)
        # Shift by hop / 2 (see the module docstring) and give frames * hop samples.
        wav = torch.nn.functional.pad(wav, (hop // 2, 0))[:, :n * hop]
        if wav.shape[-1] < n * hop:
            wav = torch.nn.functional.pad(wav, (0, n * hop - wav.shape[-1]))
        return wav.float()

    def synthesize(self, frames: np.ndarray | Tensor, source: str = "input") -> np.ndarray:
        """One utterance: ``(num_mels, T)`` array -> float32 ``(T * hop_size,)``."""
        return self(self.check_frames(frames, source))[0].cpu().numpy()
