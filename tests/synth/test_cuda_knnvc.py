"""kNN-VC on a CUDA GPU converts as on the CPU (skipped without CUDA;
``benchmarks/gpu_check.sh`` runs these on a GPU machine).

Tolerances, the GPU against the CPU (float32, same tiny WavLM-like extractor and vocoder):

- features, with cuDNN's default TF32 convolutions: relative error <= 5e-3 (the front end's
  seven convolutions each round their inputs to a 10-bit mantissa; the transformer's matrix
  products stay float32);
- kNN regression of the same features: >= 99% of the frames equal to 1e-5 (a frame may differ
  only where its k-th and (k+1)-th neighbours are tied within float32 rounding);
- the vocoder on the same features, TF32 on: SNR >= 40 dB;
- the whole conversion (file -> features -> kNN -> vocoder -> loudness) with TF32 off, where
  every step is float32 on both: SNR >= 40 dB, the same length, loudness -16 LUFS within
  0.05 (with TF32 on, the features' rounding may change a few frames' neighbours, which the
  three checks above bound step by step).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from synth.features import SSLFeatureExtractor
from synth.knnvc import KnnVC, KnnVCConfig, build_matching_set, knn_regress
from synth.audio import integrated_loudness
from vocoder.audio import save_wav

from .tiny import TINY_DIM, speechlike, tiny_generator, tiny_model

pytestmark = pytest.mark.cuda


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    reference, test = np.asarray(reference, np.float64), np.asarray(test, np.float64)
    return float(10 * np.log10(np.sum(reference ** 2) / max(np.sum((test - reference) ** 2),
                                                              1e-30)))


@pytest.fixture(scope="module")
def converters() -> tuple[KnnVC, KnnVC]:
    cpu = KnnVC(SSLFeatureExtractor(tiny_model("wavlm"), "tiny-wavlm"),
                tiny_generator(TINY_DIM), config=KnnVCConfig(layer=2))
    gpu = copy.deepcopy(cpu)
    gpu.extractor.to("cuda")
    gpu.vocoder.to("cuda")
    return cpu, gpu


@pytest.fixture
def tf32_off():
    """cuDNN convolutions in true float32 inside the test (PyTorch's default is TF32)."""
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = before


def test_cuda_knnvc_steps_equal_the_cpu_with_default_tf32(converters) -> None:
    cpu, gpu = converters
    assert gpu.extractor.device.type == "cuda"
    source = torch.from_numpy(speechlike(3.0, seed=5))
    q_cpu = cpu.query_features(source)
    q_gpu = gpu.query_features(source)
    assert q_gpu.device.type == "cuda" and q_gpu.shape == q_cpu.shape
    relative = float((q_gpu.cpu() - q_cpu).norm() / q_cpu.norm())
    assert relative <= 5e-3, relative

    target = build_matching_set(cpu.extractor, [speechlike(4.0, seed=4, f0=220.0)], layer=2)
    matched_cpu = knn_regress(q_cpu, target.features, 4)
    matched_gpu = knn_regress(q_cpu.cuda(), target.features.cuda(), 4)
    assert matched_gpu.device.type == "cuda"
    same = (matched_gpu.cpu() - matched_cpu).abs().amax(dim=1) <= 1e-5
    assert float(same.float().mean()) >= 0.99, float(same.float().mean())

    wav_cpu = cpu.vocode(matched_cpu).numpy()
    wav_gpu = gpu.vocode(matched_cpu.cuda()).numpy()  # float32 on the CPU either way
    assert wav_gpu.shape == wav_cpu.shape == (q_cpu.shape[0] * 320,)
    assert snr_db(wav_cpu, wav_gpu) >= 40.0


def test_cuda_knnvc_conversion_equals_the_cpu(converters, tf32_off, tmp_path) -> None:
    cpu, gpu = converters
    path = tmp_path / "source.wav"
    save_wav(path, speechlike(2.0, seed=6), 16000)
    references = [speechlike(2.0, seed=s, f0=200.0 + 10 * s) for s in (7, 8)]
    target_cpu = cpu.build_matching_set(references)
    target_gpu = gpu.build_matching_set(references)
    assert target_gpu.features.device.type == "cuda"
    torch.testing.assert_close(target_gpu.features.cpu(), target_cpu.features, rtol=1e-4,
                               atol=1e-4)
    out_cpu = cpu.convert(path, target_cpu)
    out_gpu = gpu.convert(path, target_gpu)
    assert out_gpu.dtype == np.float32 and out_gpu.shape == out_cpu.shape
    assert snr_db(out_cpu, out_gpu) >= 40.0
    assert integrated_loudness(out_gpu, 16000) == pytest.approx(-16.0, abs=0.05)
