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


def save_tiny_vc_models(directory: Path, seed: int = 0) -> dict:
    """A tiny WavLM-like extractor (2 layers, 32-dim, real 320-sample frame stride) and a tiny
    feature vocoder (x320, 16 kHz), saved as files, plus registry entries naming them
    (``tiny-wavlm``, ``tiny-knnvc``; file:// URLs, so the cache "downloads" them for real).

    Returns ``{"extractor": path, "vc_vocoder": path, "entries": [...], "layer": 2}``.
    """
    from tests.synth.tiny import tiny_generator as tiny_feature_generator
    from tests.synth.tiny import tiny_model, tiny_params
    from vocoder.config import AudioConfig

    directory.mkdir(parents=True, exist_ok=True)
    extractor = directory / "tiny_wavlm.pth"
    torch.save(tiny_model("wavlm", seed=seed).state_dict(), extractor)
    gen = tiny_feature_generator(upsample_rates=(10, 8, 4), seed=seed)
    cfg = HiFiGANConfig(audio=AudioConfig(sampling_rate=16000, n_fft=1280, hop_size=320,
                                          win_size=1280), generator=gen.config).validate("tiny vc")
    vc_dir = directory / "knnvc"
    vc_dir.mkdir(exist_ok=True)
    vc_vocoder = vc_dir / "g_00000001"
    save_generator(vc_vocoder, gen, cfg)
    entries = [
        {"name": "tiny-wavlm", "kind": "feature_extractor", "filename": "tiny_wavlm.pth",
         "urls": [extractor.as_uri()],
         "config": {"model_type": "WavLM", "params": tiny_params("wavlm"), "sample_rate": 16000,
                    "knnvc_layer": 2}},
        {"name": "tiny-knnvc", "kind": "feature_vocoder", "filename": "g_00000001",
         "urls": [vc_vocoder.as_uri()], "config": str(vc_dir / "config.json"),
         "requires": ["tiny-wavlm"]},
    ]
    return {"extractor": extractor, "vc_vocoder": vc_vocoder, "entries": entries, "layer": 2}


def make_synth(vocoder="none", *, cache=None, device: str = "cpu", dtype: str = "float32",
               **settings):
    """A :class:`Synthesizer` on its own hub: ``vocoder`` is a path, a registry name (with
    ``cache``), ``griffinlim``/``none``, or a ready vocoder object (held by the hub under
    the name ``given``). Without ``cache`` the hub has an empty registry (files only)."""
    import os

    from synth.hub import ModelHub, ModelSpec
    from synth.models import ModelCache, ModelRegistry
    from synth.pipeline import SynthConfig, Synthesizer

    hub = ModelHub(cache or ModelCache(ModelRegistry([]), Path("/nonexistent-hifisynth-home")),
                   device=device, dtype=dtype)
    if not isinstance(vocoder, (str, os.PathLike)):
        hub.add(ModelSpec("mel_vocoder", "given"), vocoder)
        vocoder = "given"
    return Synthesizer(hub, SynthConfig(vocoder=os.fspath(vocoder), **settings))
