"""Synth-side audio: the one input normaliser, silence trimming, loudness (BS.1770), resampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from synth.audio import (integrated_loudness, load_input_audio, load_mono, normalize_loudness,
                         resample_tensor, to_mono, trim_silence)
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
    with pytest.raises(ValueError, match="sample rate 0 Hz is not usable"):
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


# ------------------------------------------------------------------------------ inputs


def test_every_input_form_gives_the_same_mono_float(tmp_path):
    """Files, float and integer-PCM arrays and tensors, (wave, rate) and Gradio's (rate, wave),
    mono and a few channels either way round: one normaliser, the same samples."""
    wav = speechlike(0.5, 16000, seed=2)
    pcm = np.round(wav * 32767).astype(np.int16)
    sf.write(tmp_path / "a.wav", pcm, 16000, subtype="PCM_16")
    reference, rate = load_input_audio(tmp_path / "a.wav")
    assert rate == 16000 and reference.dtype == np.float32 and reference.shape == wav.shape
    stereo = np.stack([pcm, pcm], axis=1)  # (samples, channels), as Gradio gives it
    for audio, sample_rate in (((16000, pcm), None), ((pcm, 16000), None), (pcm, 16000),
                               (torch.from_numpy(pcm), 16000), ((16000, stereo), None),
                               (stereo.T.copy(), 16000), (pcm.astype(np.int32) << 16, 16000),
                               (pcm[:, None], 16000)):
        got, got_rate = load_input_audio(audio, sample_rate)
        assert got_rate == 16000 and got.dtype == np.float32
        np.testing.assert_allclose(got, reference, atol=1e-6)
    unsigned = (np.round(wav * 127) + 128).astype(np.uint8)
    assert np.abs(load_input_audio(unsigned, 16000)[0] - wav).max() < 1 / 127
    # Resampled on request, with the same resampler as files.
    at_22k, rate = load_input_audio((wav, 16000), target_rate=22050)
    assert rate == 22050 and np.array_equal(at_22k, resample(wav, 16000, 22050))
    from_file, _ = load_input_audio(tmp_path / "a.wav", target_rate=22050)
    assert from_file.shape == at_22k.shape


@pytest.mark.parametrize("audio, rate, message", [
    (np.zeros(800, np.float32), None, "source: a waveform needs its sample rate"),
    (np.zeros(800, np.float32), 0, "source: sample rate 0 Hz is not usable (audio must be "
                                   "4000-192000 Hz)"),
    (np.zeros(800, np.float32), 1, "source: sample rate 1 Hz is not usable"),
    ((np.zeros(800, np.float32), 16000, 1), None, "source: a tuple must be (waveform, sample_rate)"),
    (np.zeros(800, bool), 16000, "source: expected float or integer PCM samples, got bool"),
    (np.zeros(800, np.int64), 16000, "source: int64 samples are not a PCM format"),
    (np.zeros((20, 800), np.float32), 16000,
     "source: expected mono audio (samples,) or a few channels, got shape (20, 800)"),
    (np.zeros(0, np.float32), 16000, "source: audio has no samples"),
    (np.full(800, np.nan, np.float32), 16000, "source: audio contains NaN or infinite samples"),
])
def test_unusable_inputs_are_named_in_one_line(audio, rate, message):
    with pytest.raises(AudioError) as info:
        load_input_audio(audio, rate, what="source")
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


# ------------------------------------------------------------------------------ silence


def test_trim_silence_energy_cuts_both_ends_only():
    speech = speechlike(1.5, seed=0)
    speech[8000:12000] = 0.0  # a pause inside the speech stays
    silence = np.zeros(16000, np.float32)
    noise = 1e-4 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    wav = torch.from_numpy(np.concatenate([silence, speech, noise]))
    trimmed = trim_silence(wav, 16000)
    # 1.5 s of speech, whole, plus at most a 50 ms margin and a 25 ms frame on each side.
    assert 24000 <= trimmed.shape[0] <= 24000 + 2 * (800 + 400)
    start = 16000 - int(torch.nonzero(trimmed.abs() > 0).flatten()[0])
    assert 16000 - 800 - 400 <= start <= 16000
    assert torch.equal(wav[start:start + trimmed.shape[0]], trimmed)
    # Speech from the very first sample, and short clips, are kept whole.
    short = torch.from_numpy(speechlike(0.5, seed=1))
    assert torch.equal(trim_silence(short, 16000), short)
    assert torch.equal(trim_silence(wav, 16000, "none"), wav)
    assert trim_silence(torch.zeros(32000), 16000).numel() == 0
    # The published kNN-VC's SoX VAD is available and cuts the ends too.
    sox = trim_silence(wav, 16000, "sox")
    assert 0 < sox.shape[0] < wav.shape[0] - 16000
    with pytest.raises(ValueError, match="trim method must be"):
        trim_silence(wav, 16000, "webrtc")



def test_trim_silence_threshold_and_arrays():
    """The threshold method (espeak-ng's digital silence) on arrays: same type back."""
    speech = speechlike(0.3, seed=2)
    wav = np.concatenate([np.zeros(4000, np.float32), 1e-4 * np.ones(10, np.float32), speech,
                          np.zeros(4000, np.float32)])
    trimmed = trim_silence(wav, 16000, "threshold")
    assert isinstance(trimmed, np.ndarray)
    loud = np.flatnonzero(np.abs(wav) >= 1e-3)
    np.testing.assert_array_equal(trimmed, wav[loud[0]:loud[-1] + 1])
    assert trim_silence(np.zeros(100, np.float32), 16000, "threshold").size == 0
    energy = trim_silence(wav, 16000)  # arrays work with every method
    assert isinstance(energy, np.ndarray) and 0 < energy.size < wav.size
    np.testing.assert_array_equal(energy, trim_silence(torch.from_numpy(wav), 16000).numpy())
