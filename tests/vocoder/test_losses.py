import math

import pytest
import torch

from vocoder.config import AudioConfig
from vocoder.losses import (MEL_LOSS_WEIGHT, discriminator_loss, feature_loss, generator_adv_loss,
                            generator_total, mel_l1)
from vocoder.mel import MelSpectrogram


def test_lsgan_losses_by_hand():
    real = [torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5]])]
    fake = [torch.tensor([[0.0, 1.0]]), torch.tensor([[2.0]])]
    # D: mean((1-r)^2) + mean(g^2) per sub-discriminator, summed
    assert discriminator_loss(real, fake).item() == pytest.approx((0 + 1) / 2 + 1 / 2 + 0.25 + 4)
    # G: mean((1-g)^2), summed
    assert generator_adv_loss(fake).item() == pytest.approx((1 + 0) / 2 + 1)


def test_feature_loss_is_twice_the_summed_mean_abs():
    r = [[torch.zeros(2, 3), torch.ones(4)], [torch.full((5,), 2.0)]]
    g = [[torch.ones(2, 3), torch.ones(4)], [torch.zeros(5)]]
    assert feature_loss(r, g).item() == pytest.approx(2 * (1 + 0 + 2))


def test_losses_are_float32_from_bfloat16_inputs():
    s = [torch.tensor([[0.3, 0.7]], dtype=torch.bfloat16)]
    assert discriminator_loss(s, s).dtype == torch.float32
    assert generator_adv_loss(s).dtype == torch.float32
    assert feature_loss([s], [s]).dtype == torch.float32


def test_mel_l1_uses_fmax_for_loss_and_float32():
    audio = AudioConfig(sampling_rate=8000, n_fft=128, hop_size=16, win_size=128, num_mels=20,
                        fmax=2000, fmax_for_loss=None)
    mel = MelSpectrogram.for_loss(audio)
    torch.manual_seed(0)
    wav = torch.randn(2, 800) * 0.1
    target = mel(wav)
    assert mel_l1(mel, wav.unsqueeze(1), target).item() == 0.0
    noisy = wav + 0.05 * torch.randn_like(wav)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = mel_l1(mel, noisy.to(torch.bfloat16), target)
    assert loss.dtype == torch.float32 and 0.01 < loss.item() < 5
    # the loss mel covers up to sample_rate / 2, not fmax: energy at 3 kHz counts
    tone = torch.sin(2 * math.pi * 3000 * torch.arange(800) / 8000).unsqueeze(0)
    assert mel_l1(mel, tone, mel(torch.zeros(1, 800))).item() > 1.0
    assert generator_total(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(0.5)).item() == \
        pytest.approx(3 + MEL_LOSS_WEIGHT * 0.5)
