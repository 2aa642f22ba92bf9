"""Inference on a CUDA GPU gives the CPU's float32 audio, in each dtype, one at a time and
batched (skipped without CUDA; ``benchmarks/gpu_check.sh`` runs these on a GPU machine).

Thresholds, as the signal-to-noise ratio of the GPU's output against float32 on the CPU
(same weights, same mel of speech-like audio):

- ``float32`` >= 45 dB: cuDNN runs float32 convolutions in TF32 by default (inputs rounded to
  a 10-bit mantissa, sums in float32), so the GPU's float32 is not the CPU's to the last bit;
  one rounding of 2^-11 per layer over V1's 40-odd convolutions leaves about 55-65 dB.
- ``float16`` >= 40 dB: the same 10-bit mantissa, on every activation too.
- ``bfloat16`` >= 30 dB: a 7-bit mantissa; on the CPU bfloat16 gives 47-55 dB against
  float32 with these models (``benchmarks/README.md``), and 30 dB is the floor stated there.
- batched and chunked (equal-length pieces share a batch, long inputs in windows) against one
  whole input at a time on the GPU, float32: >= 45 dB (another batch size may pick another
  cuDNN algorithm, summing in another order, TF32 again).

Random weights at a trained model's levels (:func:`speech_level_weights`): the published
initialisation makes a waveform of standard deviation 1e-4 around a constant, where float16
is subnormal and the comparison would measure that instead. On the CPU these weights give
bfloat16 40-50 dB against float32, and float16 (PyTorch's CPU kernels) 58-68 dB.
"""

from __future__ import annotations

import pytest
import torch

from tests.conftest import speechlike
from vocoder.config import preset
from vocoder.generator import HiFiGANGenerator, hifigan_v1, hifigan_v3
from vocoder.inference import Vocoder, vocode
from vocoder.mel import MelSpectrogram

pytestmark = [pytest.mark.cuda,
              pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated")]

SNR_FLOOR_DB = {"float32": 45.0, "float16": 40.0, "bfloat16": 30.0}
BATCHED_FLOOR_DB = 45.0
FACTORIES = {"v1": hifigan_v1, "v3": hifigan_v3}


def snr_db(reference: torch.Tensor, test: torch.Tensor) -> float:
    reference, test = reference.double().cpu(), test.double().cpu()
    noise = (test - reference).pow(2).sum().clamp_min(1e-30)
    return float(10 * torch.log10(reference.pow(2).sum() / noise))


def speech_mel(name: str, seconds: float, seed: int = 0) -> torch.Tensor:
    """``(1, 80, frames)``: the model's mel of speech-like audio."""
    audio = preset(name).audio
    wav = torch.from_numpy(speechlike(seconds, audio.sampling_rate, seed=seed))
    return MelSpectrogram(audio)(wav[None])


def speech_level_weights(name: str) -> dict[str, torch.Tensor]:
    """``name``'s generator with random weights at a trained model's levels: He-initialised
    convolutions (activations of order 1 through the stack), and the last convolution scaled
    and offset so that, on speech-like input, its output has zero mean and a standard
    deviation of 0.2 (the waveform is then speech-like in level, away from tanh's rails)."""
    torch.manual_seed(0)
    generator = FACTORIES[name](weight_norm=False).eval()
    pre = []
    with torch.no_grad():
        for m in generator.modules():
            if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
                torch.nn.init.kaiming_normal_(m.weight, a=0.1, nonlinearity="leaky_relu")
                m.bias.zero_()
        hook = generator.conv_post.register_forward_hook(lambda m, i, o: pre.append(o))
        generator(speech_mel(name, 2.0, seed=1))
        hook.remove()
        scale = 0.2 / pre[0].std()
        generator.conv_post.weight.mul_(scale)
        generator.conv_post.bias.fill_(float(-scale * pre[0].mean()))
    return generator.state_dict()


def speech_level_generator(name: str, weights: dict[str, torch.Tensor]) -> HiFiGANGenerator:
    generator = FACTORIES[name](weight_norm=False)
    generator.load_state_dict(weights)
    return generator


@pytest.fixture(scope="module", params=["v1", "v3"])
def reference(request) -> tuple[str, dict, torch.Tensor, torch.Tensor]:
    """``(name, weights, mel, CPU float32 waveform)`` for V1 and V3, 2 s of speech-like
    audio."""
    name = request.param
    weights = speech_level_weights(name)
    mel = speech_mel(name, 2.0)
    out = Vocoder(speech_level_generator(name, weights), preset(name), device="cpu")(mel)
    assert 0.05 < out.std() < 0.5 and out.abs().gt(0.95).float().mean() < 0.01  # not the rails
    return name, weights, mel, out


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_cuda_inference_equals_cpu_float32(reference, dtype) -> None:
    name, weights, mel, expected = reference
    voc = Vocoder(speech_level_generator(name, weights), preset(name), device="cuda", dtype=dtype)
    assert voc.device.type == "cuda"
    assert next(voc.generator.parameters()).dtype == getattr(torch, dtype)
    out = voc(mel)
    assert out.device.type == "cuda" and out.dtype == torch.float32
    assert out.shape == expected.shape == (1, mel.shape[-1] * 256)
    assert torch.isfinite(out).all()
    snr = snr_db(expected, out)
    assert snr >= SNR_FLOOR_DB[dtype], f"{name} {dtype}: {snr:.1f} dB"


def test_cuda_batched_and_windowed_vocoding_equal_one_at_a_time() -> None:
    name = "v3"
    weights = speech_level_weights(name)
    voc = Vocoder(speech_level_generator(name, weights), preset(name), device="cuda")
    mels = [speech_mel(name, s, seed=i)[0] for i, s in enumerate((1.0, 1.0, 1.0, 0.5, 1.5))]
    alone = [voc(m[None])[0] for m in mels]
    batched = vocode(voc, mels)  # the three 1 s mels share one batch
    for a, b in zip(alone, batched):
        assert b.device.type == "cuda" and b.shape == a.shape
        assert snr_db(a, b) >= BATCHED_FLOOR_DB
    padded = vocode(voc, mels, exact=False)  # different lengths share padded batches
    for a, b in zip(alone, padded):
        assert b.shape == a.shape and torch.isfinite(b).all()
    long = speech_mel(name, 4.0, seed=9)
    whole = Vocoder(speech_level_generator(name, weights), preset(name), device="cuda",
                    max_frames=None)(long)
    windowed = Vocoder(speech_level_generator(name, weights), preset(name), device="cuda",
                       max_frames=64)(long)  # 344 frames in windows of 64 with context
    assert windowed.shape == whole.shape
    assert snr_db(whole, windowed) >= BATCHED_FLOOR_DB
