import numpy as np
import pytest
import torch

from tests.conftest import tiny_config
from vocoder.config import preset
from vocoder.generator import HiFiGANGenerator, receptive_field_frames
from vocoder.inference import Vocoder, pick_device, pick_dtype, tune_cpu_allocator


def _vocoder(resblock="1", **kwargs) -> Vocoder:
    cfg = tiny_config(resblock)
    torch.manual_seed(0)
    g = HiFiGANGenerator(cfg.generator)
    with torch.no_grad():  # weights large enough that context truncation would show
        for name, p in g.named_parameters():
            if name.endswith("original0"):
                p.mul_(8.0)
    return Vocoder(g, cfg, device="cpu", **kwargs)


@pytest.mark.parametrize("resblock", ["1", "2"])
@pytest.mark.parametrize("max_frames", [7, 16, 50])
def test_chunked_inference_equals_whole(resblock, max_frames):
    whole = _vocoder(resblock, max_frames=None)
    chunked = _vocoder(resblock, max_frames=max_frames)
    x = torch.randn(2, 20, 123) - 4
    a, b = whole(x), chunked(x)
    assert a.shape == b.shape == (2, 123 * 64)
    torch.testing.assert_close(b, a, atol=1e-5, rtol=0)


def test_context_is_what_makes_chunks_exact():
    whole = _vocoder(max_frames=None)
    short = _vocoder(max_frames=10)
    short.context_frames = 1
    x = torch.randn(1, 20, 60) - 4
    assert (short(x) - whole(x)).abs().max() > 1e-4  # without enough context, seams show


def test_receptive_field_of_presets():
    # V1: conv_pre 3 + 2 + 60/8 + ... frames; V3's type-2 blocks reach less far.
    assert receptive_field_frames(preset("v1").generator) == 15
    assert receptive_field_frames(preset("v3").generator) == 12


def test_bfloat16_stays_within_30db_of_float32():
    f32 = _vocoder()
    bf16 = _vocoder(dtype="bfloat16")
    x = torch.randn(1, 20, 80) - 4
    ref, out = f32(x), bf16(x)
    assert out.dtype == torch.float32
    snr = 10 * torch.log10(ref.pow(2).sum() / (out - ref).pow(2).sum())
    assert snr > 30, snr


def test_synthesize_accepts_tts_shapes_and_rejects_others():
    voc = _vocoder()
    mel = np.random.default_rng(0).normal(-5, 1, (20, 12)).astype(np.float32)
    a = voc.synthesize(mel)
    b = voc.synthesize(mel[None])
    assert a.shape == (12 * 64,) and np.array_equal(a, b)
    with pytest.raises(ValueError, match=r"mel.npy: expected an array of shape \(20, frames\)"):
        voc.synthesize(np.zeros((12, 20, 3), np.float32), source="mel.npy")
    with pytest.raises(ValueError, match="has no frames"):
        voc.synthesize(np.zeros((20, 0), np.float32))


def test_device_and_dtype_choices():
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="float16 needs a GPU"):
        pick_dtype("float16", torch.device("cpu"))
    with pytest.raises(ValueError, match="choose one of float32, bfloat16, float16"):
        pick_dtype("int8", torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            pick_device("cuda")
    assert tune_cpu_allocator() in (True, False)
