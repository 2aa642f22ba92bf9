"""What the benchmarks print about where they ran, and where they find real speech."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def describe_machine(device: str | None = None) -> dict:
    """Python, torch, CPU model and count, torch threads; with CUDA, the first GPU's name,
    memory and compute capability, the GPU count, and the CUDA and cuDNN versions."""
    info = {"python": platform.python_version(), "torch": torch.__version__,
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine()}
    if device is not None:
        info["device"] = device
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=torch.cuda.get_device_name(0), gpu_count=torch.cuda.device_count(),
                    gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    gpu_capability=f"{props.major}.{props.minor}", cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version())
    return info


def default_speech_dir() -> Path:
    """``$HIFISYNTH_LJSPEECH``, else ``shared/data/ljspeech`` beside the project (as the tests)."""
    return Path(os.environ.get("HIFISYNTH_LJSPEECH", ROOT.parent / "shared" / "data" / "ljspeech"))
