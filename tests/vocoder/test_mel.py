import librosa
import numpy as np
import pytest
import torch

from tests.conftest import speechlike
from tests.reference.published_hifigan import mel_numpy, mel_spectrogram
from vocoder.audio import load_audio
from vocoder.config import AudioConfig
from vocoder.mel import MelSpectrogram

PUBLISHED = AudioConfig()  # 22050 Hz, n_fft 1024, hop 256, win 1024, 80 mels, 0-8000 Hz


def _published_args(a: AudioConfig, fmax=None):
    return dict(n_fft=a.n_fft, num_mels=a.num_mels, sampling_rate=a.sampling_rate,
                hop_size=a.hop_size, win_size=a.win_size, fmin=a.fmin,
                fmax=a.fmax if fmax is None else fmax)


def test_pure_tone_lands_in_its_mel_bin():
    sr = PUBLISHED.sampling_rate
    for freq in (300.0, 1000.0, 3000.0):
        t = np.arange(sr) / sr
        tone = torch.from_numpy((0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32))
        mel = MelSpectrogram(PUBLISHED)(tone)
        centres = librosa.mel_frequencies(PUBLISHED.num_mels + 2, fmin=0, fmax=8000)[1:-1]
        expected = int(np.argmin(np.abs(centres - freq)))
        peak = mel[:, 5:-5].mean(dim=1).argmax().item()
        assert abs(peak - expected) <= 1, (freq, peak, expected)


@pytest.mark.parametrize("length", [385, 511, 1000, 22050, 22050 + 255])
def test_frames_are_length_floordiv_hop(length):
    mel = MelSpectrogram(PUBLISHED)(torch.randn(length) * 0.1)
    assert mel.shape == (80, length // 256)


def test_batch_equals_one_by_one():
    m = MelSpectrogram(PUBLISHED)
    batch = torch.from_numpy(np.stack([speechlike(1.0, 22050, seed=s) for s in range(3)]))
    together = m(batch)
    assert together.shape == (3, 80, 22050 // 256)
    for i in range(3):
        torch.testing.assert_close(together[i], m(batch[i]), atol=1e-5, rtol=0)


def test_matches_published_frontend_on_synthetic_speech():
    wav = speechlike(2.0, 22050)
    ours = MelSpectrogram(PUBLISHED)(torch.from_numpy(wav)[None])[0]
    published = mel_spectrogram(torch.from_numpy(wav)[None], **_published_args(PUBLISHED))[0]
    exact = mel_numpy(wav, **_published_args(PUBLISHED))
    assert (ours - published).abs().max().item() < 1e-4
    assert np.abs(ours.numpy() - exact).max() < 1e-4


def test_matches_published_frontend_on_real_speech(ljspeech_dir):
    for path in sorted(ljspeech_dir.glob("*.wav"))[:3]:
        wav, sr = load_audio(path)
        assert sr == 22050
        ours = MelSpectrogram(PUBLISHED)(torch.from_numpy(wav))
        published = mel_spectrogram(torch.from_numpy(wav)[None], **_published_args(PUBLISHED))[0]
        assert ours.shape == (80, len(wav) // 256)
        assert (ours - published).abs().max().item() < 1e-4, path
        # Against float64 maths the float32 STFT's rounding shows only in near-silent bins.
        exact = mel_numpy(wav, **_published_args(PUBLISHED))
        err = np.abs(ours.numpy() - exact)
        assert err[exact > -7].max() < 1e-4 and err.max() < 2e-3, path


def test_loss_frontend_uses_fmax_for_loss():
    wav = torch.from_numpy(speechlike(1.0, 22050))
    loss_mel = MelSpectrogram.for_loss(PUBLISHED)(wav)  # fmax_for_loss null -> 11025 Hz
    published = mel_spectrogram(wav[None], **_published_args(PUBLISHED, fmax=11025))[0]
    assert (loss_mel - published).abs().max().item() < 1e-4
    assert (loss_mel - MelSpectrogram(PUBLISHED)(wav)).abs().max().item() > 0.1


def test_differentiable_and_moves_with_module():
    m = MelSpectrogram(PUBLISHED).double()
    wav = torch.from_numpy(speechlike(0.5, 22050)).double().requires_grad_()
    m(wav).sum().backward()
    assert wav.grad is not None and torch.isfinite(wav.grad).all()
    assert wav.grad.abs().sum() > 0
    assert not m.state_dict(), "filterbank and window are non-persistent buffers"


def test_too_short_waveform_is_explained():
    with pytest.raises(ValueError, match="too short"):
        MelSpectrogram(PUBLISHED)(torch.zeros(100))
