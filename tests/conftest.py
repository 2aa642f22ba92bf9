"""Shared fixtures: tiny configs, synthetic speech-like audio, and running the commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.modelserver import model_server  # noqa: F401 - the fixture, for every test folder
from vocoder.config import AudioConfig, GeneratorConfig, HiFiGANConfig, TrainConfig

REPO = Path(__file__).resolve().parents[1]
LJSPEECH = Path(os.environ.get("HIFISYNTH_LJSPEECH", REPO.parent / "shared" / "data" / "ljspeech"))


def tiny_config(resblock: str = "1", input_dim: int | None = None) -> HiFiGANConfig:
    """16 kHz, hop 64, 20 mels; a generator of a few thousand parameters (x64 upsampling)."""
    audio = AudioConfig(sampling_rate=16000, n_fft=256, hop_size=64, win_size=256, num_mels=20,
                        fmin=0.0, fmax=8000.0, fmax_for_loss=None)
    dil = [[1, 3, 5], [1, 3, 5]] if resblock == "1" else [[1, 2], [2, 4]]
    gen = GeneratorConfig(upsample_rates=[4, 4, 4], upsample_kernel_sizes=[8, 8, 8],
                          upsample_initial_channel=32, resblock=resblock,
                          resblock_kernel_sizes=[3, 5], resblock_dilation_sizes=dil,
                          in_channels=16 if input_dim else 20, input_dim=input_dim)
    train = TrainConfig(batch_size=2, segment_size=2048, num_workers=0)
    return HiFiGANConfig(audio=audio, generator=gen, train=train).validate("tiny config")


def speechlike(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """A harmonic signal with a gliding pitch, syllable-rate envelope and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    wav = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    wav = 0.3 * wav * env / np.abs(wav).max() + 0.003 * rng.standard_normal(len(t))
    return wav.astype(np.float32)


def write_wav(path: Path, wav: np.ndarray, sr: int, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wav, sr, subtype=subtype)
    return path


def run_cli(module: str, *args: str, cwd: Path | None = None, timeout: float = 300,
            path_first: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m <module> args...`` as a user would, capturing output.

    ``path_first`` goes before everything on ``PYTHONPATH`` (e.g. :func:`broken_torchaudio`).
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if path_first is not None:
        env["PYTHONPATH"] = str(path_first) + os.pathsep + env["PYTHONPATH"]
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


CUDA_SKIP_REASON = ("needs a CUDA GPU (torch.cuda.is_available() is False here); "
                    "benchmarks/gpu_check.sh runs the tests marked cuda on a GPU machine")


def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked ``cuda`` skip, saying why, where CUDA is absent."""
    import torch

    if torch.cuda.is_available():
        return
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(pytest.mark.skip(reason=CUDA_SKIP_REASON))


@pytest.fixture
def ljspeech_dir() -> Path:
    """The real LJSpeech clips beside the project (or $HIFISYNTH_LJSPEECH); skips if absent."""
    if not LJSPEECH.is_dir() or not any(LJSPEECH.glob("*.wav")):
        pytest.skip(f"real speech clips not found at {LJSPEECH} (set HIFISYNTH_LJSPEECH)")
    return LJSPEECH


BROKEN_SYMBOL = "torch_exception_get_what_without_backtrace"


def make_broken_torchaudio(root: Path) -> Path:
    """A folder that, first on ``PYTHONPATH``, makes ``import torchaudio`` fail the way a
    torchaudio built for another torch does (the registry's torchaudio 2.11.1 with torch
    2.11.0): an ``OSError`` for ``libtorchaudio.so`` caused by an undefined symbol, with the
    metadata of torchaudio 2.11.1. Returns the folder."""
    package = root / "torchaudio"
    package.mkdir(parents=True, exist_ok=True)
    lib = "/venv/lib/python3.11/site-packages/torchaudio/lib/libtorchaudio.so"
    (package / "__init__.py").write_text(
        "try:\n"
        f"    raise OSError('{lib}: undefined symbol: {BROKEN_SYMBOL}')\n"
        "except OSError as exc:\n"
        f"    raise OSError('Could not load this library: {lib}') from exc\n")
    info = root / "torchaudio-2.11.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: torchaudio\nVersion: 2.11.1\n")
    return root


@pytest.fixture(scope="session")
def broken_torchaudio(tmp_path_factory) -> Path:
    """See :func:`make_broken_torchaudio`."""
    return make_broken_torchaudio(tmp_path_factory.mktemp("broken-torchaudio"))
