"""The app started with ``--device cuda`` answers through ``gradio_client`` with the audio the
CPU app gives (skipped without CUDA; ``benchmarks/gpu_check.sh`` runs these on a GPU machine).

Tolerance: text to speech through the same tiny vocoder, the GPU's WAV against the CPU app's,
SNR >= 40 dB (TF32 convolutions on the GPU, then both rounded to 16-bit samples); voice
conversion: the same length and loudness (-16 LUFS within 0.5, as on the CPU).
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from synth.audio import integrated_loudness
from tests.app.conftest import start_app, stop_app
from tests.conftest import speechlike, write_wav
from tests.synth.service_models import SR, VC_HOP

pytestmark = pytest.mark.cuda

TEXT = "Hello there. This is hifisynth on a GPU."


@pytest.fixture(scope="module")
def cuda_client(app_models, tmp_path_factory):
    from gradio_client import Client

    server = start_app(app_models, tmp_path_factory.mktemp("cuda-app"), "--device", "cuda")
    try:
        yield Client(server.url, verbose=False, analytics_enabled=False,
                     download_files=str(tmp_path_factory.mktemp("cuda-client")))
    finally:
        stop_app(server)


def read(path: str) -> tuple[np.ndarray, int]:
    audio, sr = sf.read(path, dtype="float32")
    return audio, sr


def test_cuda_app_reports_its_gpu(cuda_client) -> None:
    import torch

    status = cuda_client.predict(api_name="/status")
    assert status["device"].startswith("cuda")
    assert status["cuda"]["name"] == torch.cuda.get_device_name(0)
    assert {"vocoder", "espeak", "knnvc"} <= set(status["models"]["loaded"])


def test_cuda_app_speaks_as_the_cpu_app(cuda_client, client) -> None:
    gpu_path, notes = cuda_client.predict(TEXT, "base", [], None, "default", api_name="/tts")
    cpu_path, _ = client.predict(TEXT, "base", [], None, "default", api_name="/tts")
    gpu, sr = read(gpu_path)
    cpu, _ = read(cpu_path)
    assert sr == SR and gpu.shape == cpu.shape and len(gpu) > SR
    noise = np.sum((gpu.astype(np.float64) - cpu) ** 2)
    snr = 10 * np.log10(np.sum(cpu.astype(np.float64) ** 2) / max(noise, 1e-30))
    assert snr >= 40.0, snr
    assert "through the **g_00000001** vocoder" in notes


def test_cuda_app_converts_a_voice(cuda_client, tmp_path) -> None:
    from gradio_client import handle_file

    source = write_wav(tmp_path / "source.wav", speechlike(1.5, SR, seed=2), SR)
    reference = write_wav(tmp_path / "ref.wav", speechlike(2.0, SR, seed=1), SR)
    wav_path, _ = cuda_client.predict(handle_file(str(source)), [handle_file(str(reference))], 4,
                                      True, -16, api_name="/convert")
    audio, sr = read(wav_path)
    assert sr == SR and len(audio) == ((int(1.5 * SR) - 400) // VC_HOP + 1) * VC_HOP
    assert integrated_loudness(audio, sr) == pytest.approx(-16.0, abs=0.5)
