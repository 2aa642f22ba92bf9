"""vocoder.griffinlim: Griffin-Lim inversion of the HiFi-GAN log-mel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import speechlike
from vocoder.config import AudioConfig
from vocoder.griffinlim import GriffinLimVocoder
from vocoder.mel import MelSpectrogram

SR, HOP = 16000, 64


def test_griffinlim_inverts_the_mel() -> None:
    audio = AudioConfig(sampling_rate=SR, n_fft=256, hop_size=HOP, win_size=256, num_mels=40,
                        fmin=0, fmax=8000)
    gl = GriffinLimVocoder(audio, n_iter=32, device="cpu")
    mel_fn = MelSpectrogram(audio)
    wav = speechlike(1.0, SR, seed=3)
    mel = mel_fn(torch.from_numpy(wav))
    out = gl(mel[None])[0]
    assert out.shape == (mel.shape[1] * HOP,)
    assert torch.equal(out, gl(mel[None])[0])  # seeded: deterministic
    error = (mel_fn(out) - mel)[:, 3:-3].abs().mean().item()
    assert error < 0.35, error
    # Aligned with the input: shifting the output by a quarter frame either way is worse.
    for shift in (-HOP // 4, HOP // 4):
        shifted = (mel_fn(torch.roll(out, shift)) - mel)[:, 3:-3].abs().mean().item()
        assert shifted > error
    with pytest.raises(ValueError, match=r"expected an array of shape \(40, frames\)"):
        gl.check_frames(np.zeros((20, 5)))


def test_griffinlim_batches_and_short_inputs() -> None:
    audio = AudioConfig(sampling_rate=SR, n_fft=256, hop_size=HOP, win_size=256, num_mels=40,
                        fmin=0, fmax=8000)
    gl = GriffinLimVocoder(audio, n_iter=4, device="cpu")
    mel = MelSpectrogram(audio)(torch.from_numpy(speechlike(0.5, SR)))
    batch = torch.stack([mel, mel])
    out = gl(batch)
    assert out.shape == (2, mel.shape[1] * HOP) and torch.equal(out[0], out[1])  # same seed each
    assert gl(mel[None, :, :1]).shape == (1, HOP)  # one frame still gives one hop of samples
    with pytest.raises(ValueError, match="n_iter must be at least 1"):
        GriffinLimVocoder(audio, n_iter=0)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        GriffinLimVocoder(audio, momentum=1.0)
    assert gl.synthesize(mel.numpy()).shape == (mel.shape[1] * HOP,)
