"""The HiFi-GAN mel frontend, exactly as the published code computes it.

Waveform in [-1, 1] -> reflect-pad ``(n_fft - hop) / 2`` on both sides -> STFT with
``center=False`` and a Hann window -> magnitude ``sqrt(re^2 + im^2 + 1e-9)`` -> Slaney mel
filterbank (librosa's default) -> ``log(clamp(x, min=1e-5))``. A waveform of ``n`` samples
gives ``n // hop_size`` frames.
"""

from __future__ import annotations

import librosa
import torch
from torch import Tensor, nn

from .config import AudioConfig


def mel_filterbank(audio: AudioConfig, fmax: float | None = None) -> Tensor:
    """Slaney-style mel filterbank, ``(num_mels, n_fft // 2 + 1)`` float32.

    ``fmax`` overrides ``audio.fmax`` (``None`` there means half the sample rate).
    """
    top = audio.fmax if fmax is None else fmax
    basis = librosa.filters.mel(sr=audio.sampling_rate, n_fft=audio.n_fft, n_mels=audio.num_mels,
                                fmin=audio.fmin, fmax=top, htk=False, norm="slaney")
    return torch.from_numpy(basis).float()


class MelSpectrogram(nn.Module):
    """Log-mel spectrogram of the published HiFi-GAN.

    The filterbank and window are buffers, so ``.to(device)`` moves them; no global cache.

    Args:
        audio: sample rate and STFT/mel settings.
        fmax: overrides ``audio.fmax``; training's mel loss passes ``audio.fmax_for_loss``
            (or half the sample rate when that is ``None``).
    """

    def __init__(self, audio: AudioConfig, fmax: float | None = None) -> None:
        super().__init__()
        self.n_fft = audio.n_fft
        self.hop_size = audio.hop_size
        self.win_size = audio.win_size
        self.pad = (audio.n_fft - audio.hop_size) // 2
        self.register_buffer("mel_basis", mel_filterbank(audio, fmax), persistent=False)
        self.register_buffer("window", torch.hann_window(audio.win_size), persistent=False)

    @classmethod
    def for_loss(cls, audio: AudioConfig) -> "MelSpectrogram":
        """The frontend training's mel-L1 loss uses (``fmax_for_loss``)."""
        return cls(audio, fmax=audio.fmax_for_loss or audio.sampling_rate / 2)

    def forward(self, wav: Tensor) -> Tensor:
        """``(batch, samples)`` or ``(samples,)`` -> ``(batch, num_mels, samples // hop)``.

        Differentiable; computed in float32 whatever the input dtype.
        """
        squeeze = wav.dim() == 1
        if squeeze:
            wav = wav.unsqueeze(0)
        if wav.dim() != 2:
            raise ValueError(f"expected a waveform of shape (batch, samples), got {tuple(wav.shape)}")
        if wav.shape[-1] <= self.pad:
            raise ValueError(f"waveform of {wav.shape[-1]} samples is too short: reflect padding "
                             f"needs more than {self.pad} samples")
        wav = wav.float()
        wav = nn.functional.pad(wav.unsqueeze(1), (self.pad, self.pad), mode="reflect").squeeze(1)
        spec = torch.stft(wav, self.n_fft, hop_length=self.hop_size, win_length=self.win_size,
                          window=self.window, center=False, normalized=False, onesided=True,
                          return_complex=True)
        mag = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-9)
        mel = torch.matmul(self.mel_basis, mag)
        mel = torch.log(torch.clamp(mel, min=1e-5))
        return mel.squeeze(0) if squeeze else mel
