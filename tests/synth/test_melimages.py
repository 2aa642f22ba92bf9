"""Mel pictures (synth.melimages): orientation, width, a shared colour range."""

from __future__ import annotations

import numpy as np

from synth.melimages import display_mel, mel_image, mel_range
from tests.conftest import speechlike


def test_mel_image_orientation_range_and_width() -> None:
    mel = np.full((20, 50), -11.5, np.float32)
    mel[0, :] = 2.0  # energy in the lowest band only
    image = mel_image(mel)
    assert image.shape == (160, 800, 3) and image.dtype == np.uint8  # 50 frames x 16 px
    assert image[-1].mean() > 200 and image[0].mean() < 20  # low frequencies at the bottom
    wide = mel_image(np.zeros((80, 4000), np.float32), max_width=1000)
    assert wide.shape == (160, 1000, 3)
    lo_hi = mel_range(mel, mel - 3)
    assert lo_hi == (-8.0, 2.0)
    same = mel_image(mel - 3, lo_hi)
    assert same[-1].mean() < image[-1].mean()  # same colour range: the quieter mel is darker


def test_display_mel_of_any_rate() -> None:
    for rate in (16000, 22050, 48000):
        mel = display_mel(speechlike(1.0, rate), rate)
        assert mel.shape == (80, rate // 256)
