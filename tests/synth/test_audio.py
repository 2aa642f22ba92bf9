"""Synth-side audio helpers: loudness (BS.1770), normalisation, mono and resampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from synth.audio import (integrated_loudness, load_mono, normalize_loudness, resample_tensor,
                         to_mono)
from vocoder.audio import AudioError, resample

from .tiny import speechlike


def sine(freq: float, seconds: float, sample_rate: int, amplitude: float) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * math.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("sample_rate", [16000, 22050, 48000])
def test_loudness_of_a_sine_follows_bs1770_calibration(sample_rate):
    # BS.1770: a 0 dBFS 997 Hz sine in one channel reads -3.01 LUFS; -6.02 dB per halving.
    # (pyloudnorm and torchaudio derive the K-weighting filter from its analogue prototype
    # at every rate; both read 0.04-0.08 dB low at 997 Hz, within this tolerance.)
    tol = 0.1
    full = integrated_loudness(sine(997, 3.0, sample_rate, 1.0), sample_rate)
    assert full == pytest.approx(-3.01, abs=tol)
    assert integrated_loudness(sine(997, 3.0, sample_rate, 0.5), sample_rate) == \
        pytest.approx(full - 6.02, abs=0.01)


def test_loudness_gates_silence():
    tone = sine(997, 2.0, 16000, 0.5)
    with_silence = np.concatenate([tone, np.zeros(32000, np.float32)])
    # The gates drop the silent blocks: without them, half the time silent would read 3 dB
    # lower; only the few blocks that straddle the end of the tone count.
    drop = integrated_loudness(tone, 16000) - integrated_loudness(with_silence, 16000)
    assert 0.0 < drop < 0.5
    assert integrated_loudness(np.zeros(16000, np.float32), 16000) == -math.inf
    with pytest.raises(ValueError, match=r"more than 0\.4 s of audio, got 6400 samples at 16000 Hz"):
        integrated_loudness(np.zeros(6400, np.float32), 16000)
    with pytest.raises(ValueError, match=r"mono audio of shape \(samples,\), got shape \(2, 8000\)"):
        integrated_loudness(np.zeros((2, 8000), np.float32), 16000)


@pytest.mark.parametrize("target", [-16.0, -23.0, -30.0])
def test_normalize_loudness_reaches_target(target):
    speech = speechlike(3.0, seed=1) * 0.3
    out = normalize_loudness(torch.from_numpy(speech), 16000, target)
    assert out.dtype == np.float32 and out.shape == speech.shape
    assert integrated_loudness(out, 16000) == pytest.approx(target, abs=0.01)
    ratio = out[speech != 0] / speech[speech != 0]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)  # one gain for the whole signal


def test_normalize_loudness_leaves_unmeasurable_audio_alone():
    short = sine(440, 0.3, 16000, 0.1)
    np.testing.assert_array_equal(normalize_loudness(short, 16000), short)
    silence = np.zeros(32000, np.float32)
    np.testing.assert_array_equal(normalize_loudness(silence, 16000), silence)


def test_resample_tensor_matches_file_resampler_and_keeps_dtype():
    wav = torch.from_numpy(sine(300, 1.0, 22050, 0.5))
    out = resample_tensor(wav, 22050, 16000)
    assert out.shape == (16000,) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), resample(wav.numpy(), 22050, 16000), atol=1e-6)
    # The tone keeps its frequency: strongest FFT bin at 300 Hz.
    spectrum = np.abs(np.fft.rfft(out.numpy()))
    assert np.argmax(spectrum) == 300
    batch = torch.stack([wav, -wav])
    assert resample_tensor(batch, 22050, 16000).shape == (2, 16000)
    assert resample_tensor(wav, 16000, 16000) is wav
    with pytest.raises(ValueError, match="sample rates must be positive"):
        resample_tensor(wav, 0, 16000)


def test_mono_helpers(tmp_path):
    left, right = sine(200, 1.0, 8000, 0.5), sine(330, 1.0, 8000, 0.25)
    stereo = np.stack([left, right], axis=1)
    sf.write(tmp_path / "stereo.wav", stereo, 8000, subtype="FLOAT")
    wav = load_mono(tmp_path / "stereo.wav", 16000)
    assert wav.shape == (16000,) and wav.dtype == torch.float32
    expected = resample((left + right) / 2, 8000, 16000)
    np.testing.assert_allclose(wav.numpy(), expected, atol=1e-5)
    torch.testing.assert_close(to_mono(torch.from_numpy(stereo.T)), torch.from_numpy((left + right) / 2))
    with pytest.raises(AudioError, match=r"nope\.wav: audio file not found"):
        load_mono(tmp_path / "nope.wav", 16000)
