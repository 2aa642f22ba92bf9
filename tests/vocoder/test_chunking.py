"""vocoder.chunking and vocoder.inference.vocode: chunks and batches give the samples of one
whole sequence at a time, exactly (no padding) or with silence after every sequence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import tiny_config
from vocoder.chunking import LOG_FLOOR, group_by_length, plan_pieces, vocode_batched
from vocoder.config import AudioConfig
from vocoder.errors import InputError
from vocoder.generator import HiFiGANGenerator
from vocoder.griffinlim import GriffinLimVocoder
from vocoder.inference import FrameVocoder, Vocoder, vocode

HALF_LSB = 0.5 / 32767  # half a step of a 16-bit file


@pytest.fixture(scope="module")
def voc() -> Vocoder:
    torch.manual_seed(0)
    cfg = tiny_config()
    return Vocoder(HiFiGANGenerator(cfg.generator), cfg, device="cpu", max_frames=None)


@pytest.fixture(scope="module")
def mels(voc) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(voc.input_channels, n, generator=gen) - 4 for n in (3, 17, 40, 41, 129)]


def test_every_vocoder_offers_the_interface(voc) -> None:
    gl = GriffinLimVocoder(AudioConfig(), device="cpu")
    for v in (voc, gl):
        assert isinstance(v, FrameVocoder)
        assert isinstance(v.audio, AudioConfig) and v.sample_rate == v.audio.sampling_rate
    assert voc.upsample_factor == voc.audio.hop_size == 64
    assert gl.upsample_factor == gl.audio.hop_size == 256


@pytest.mark.parametrize("chunk, batch", [(4096, 4096), (7, 4096), (16, 40), (50, 1)])
def test_exact_mode_equals_the_whole_unpadded_sequence(voc, mels, chunk, batch) -> None:
    alone = [voc(m[None])[0] for m in mels]
    together = vocode(voc, mels, exact=True, chunk_frames=chunk, max_batch_frames=batch)
    for m, a, b in zip(mels, alone, together):
        assert b.shape == (m.shape[1] * 64,)
        assert (a - b).abs().max() < HALF_LSB


def test_padded_mode_does_not_depend_on_the_batch(voc, mels) -> None:
    alone = [vocode(voc, [m], exact=False)[0] for m in mels]
    together = vocode(voc, mels, exact=False)
    small = vocode(voc, mels, exact=False, max_batch_frames=120, max_batch_size=2)
    for a, b, c in zip(alone, together, small):
        assert (a - b).abs().max() < HALF_LSB and (a - c).abs().max() < HALF_LSB


def test_why_padding_or_exact_mode(voc, mels) -> None:
    # Batched without padding, a short sequence's end sees its neighbour's padding, not the
    # convolutions' zeros: its last frames change (its start does not).
    short, longer = mels[2], mels[4]
    alone = voc(short[None])[0]
    naive = vocode_batched(voc, [short, longer], hop=64, context=0, pad_value=LOG_FLOOR)[0]
    assert (naive - alone).abs().max() > 100 * HALF_LSB
    edge = voc.context_frames * 64
    assert (naive - alone)[:-edge].abs().max() < HALF_LSB


def test_long_input_is_vocoded_in_windows_with_the_same_samples(voc, mels) -> None:
    cfg = voc.config
    windowed = Vocoder(voc.generator, cfg, device="cpu", max_frames=16)
    x = torch.stack([mels[4][:, :100], mels[4][:, 20:120]])
    np.testing.assert_allclose(windowed(x).numpy(), voc(x).numpy(), atol=HALF_LSB, rtol=0)


def test_plan_and_group() -> None:
    pieces = plan_pieces([5, 25], chunk_frames=10, context=3)
    assert [(p.index, p.start, p.stop, p.keep_from, p.keep) for p in pieces] == [
        (0, 0, 5, 0, 5), (1, 0, 13, 0, 10), (1, 7, 23, 3, 10), (1, 17, 25, 3, 5)]
    groups = group_by_length([100, 5, 50, 6, 51, 7], max_batch_frames=160, max_batch_size=10, pad=2)
    assert groups == [[1, 3, 5], [2, 4], [0]]  # similar lengths together, within budget
    assert group_by_length([5] * 5, 10_000, max_batch_size=2) == [[0, 1], [2, 3], [4]]
    assert group_by_length([500], 100, 4) == [[0]]  # too long for the budget: alone
    with pytest.raises(InputError, match="all sequences must be"):
        vocode_batched(lambda x: x, [torch.zeros(3, 4), torch.zeros(2, 4)], hop=1, context=0)
    with pytest.raises(InputError, match=r"vocoder expects frames of shape \(batch, 20, frames\)"):
        Vocoder(HiFiGANGenerator(tiny_config().generator), tiny_config(), device="cpu")(
            torch.zeros(1, 21, 5))
