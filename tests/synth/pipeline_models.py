"""Tiny models for the pipeline tests, saved the way users have them (checkpoint + config.json)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tests.conftest import tiny_config
from vocoder.checkpoint import save_generator
from vocoder.config import HiFiGANConfig
from vocoder.generator import HiFiGANGenerator


def tiny_generator(config: HiFiGANConfig, seed: int = 0) -> HiFiGANGenerator:
    """A weight-norm generator with PyTorch's default init (a varied, audible waveform rather
    than the near-constant one of the published N(0, 0.01) init)."""
    torch.manual_seed(seed)
    gen = HiFiGANGenerator(config.generator, weight_norm=False)
    for m in gen.modules():
        if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d, torch.nn.Linear)):
            m.reset_parameters()
    from torch.nn.utils.parametrizations import weight_norm

    for conv in gen._convs():
        weight_norm(conv)
    return gen.eval()


def save_tiny_mel_vocoder(directory: Path, resblock: str = "1", seed: int = 0) -> Path:
    """``directory/g_00000001`` (published training format) with ``config.json`` beside it:
    16 kHz, hop 64, 20 mels."""
    directory.mkdir(parents=True, exist_ok=True)
    cfg = tiny_config(resblock)
    path = directory / "g_00000001"
    save_generator(path, tiny_generator(cfg, seed), cfg)
    return path


def registry_file(directory: Path, models: list[dict]) -> Path:
    """A registry (``models.json``) listing ``models`` with the required keys filled in."""
    entries = []
    for m in models:
        entries.append({"licence": "MIT", "source": "test", "sha256": None, "size": None, **m})
    path = directory / "models.json"
    path.write_text(json.dumps({"format": 1, "models": entries}))
    return path
