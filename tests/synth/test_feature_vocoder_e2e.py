"""End to end, with each extractor backend (a torchaudio weights file, a Hugging Face
Wav2Vec2-Conformer directory): synth features -> synth prematch -> vocoder train (a tiny
22.05 kHz feature vocoder) -> the g_ checkpoint loads and converts a clip with KnnVC, and a
voice is saved and used with `synth voice` / `synth convert`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from synth.audio import integrated_loudness
from synth.knnvc import KnnVC, KnnVCConfig, MatchingSet
from vocoder.audio import load_audio
from vocoder.checkpoint import load_generator

from .corpuskit import load_tiny_extractor, make_corpus, write_tiny_extractor
from .tiny import TINY_DIM

REPO = Path(__file__).resolve().parents[2]

# A kNN-VC-style config shrunk: 22.05 kHz output, 7 * 7 * 3 * 3 = 441 = 22050 / 50 samples per
# feature frame (kernel - rate even at every stage), segments of 8 frames, narrow discriminators.
TINY_FEATURE_VOCODER = {
    "resblock": "1", "upsample_rates": [7, 7, 3, 3], "upsample_kernel_sizes": [15, 15, 7, 7],
    "upsample_initial_channel": 64, "resblock_kernel_sizes": [3],
    "resblock_dilation_sizes": [[1, 3, 5]], "hubert_dim": TINY_DIM, "hifi_dim": 16,
    "batch_size": 2, "learning_rate": 0.0002, "adam_b1": 0.8, "adam_b2": 0.99,
    "lr_decay": 0.999, "seed": 1234, "segment_size": 8 * 441, "num_mels": 40, "n_fft": 1024,
    "hop_size": 256, "win_size": 1024, "sampling_rate": 22050, "fmin": 0, "fmax": 8000,
    "fmax_for_loss": None, "num_workers": 0, "discriminator_width_divisor": 8,
}


def run(*args: object, env: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env or {}), PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-m", *map(str, args)], capture_output=True,
                            text=True, env=env, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def torchaudio_backend(directory: Path) -> tuple[list, Callable]:
    """A tiny WavLM state dict with its architecture JSON: the options and the extractor."""
    weights, arch = write_tiny_extractor(directory)
    return (["--extractor", weights, "--extractor-arch", arch],
            lambda: load_tiny_extractor(weights, arch))


def conformer_backend(directory: Path) -> tuple[list, Callable]:
    """A tiny relative-position Wav2Vec2-Conformer saved with ``save_pretrained``."""
    pytest.importorskip("transformers")
    from synth.hf_features import load_hf_extractor

    from .hfkit import save_tiny

    model = save_tiny(directory / "conformer", "conformer-relative")
    return ["--extractor", model], lambda: load_hf_extractor(model)


@pytest.mark.slow
@pytest.mark.parametrize("backend", [torchaudio_backend, conformer_backend],
                         ids=["torchaudio", "conformer"])
def test_features_prematch_train_convert(tmp_path, backend):
    corpus = make_corpus(tmp_path / "corpus")
    extractor_args, load_extractor = backend(tmp_path / "model")
    model = [*extractor_args, "--layer", 2, "--quiet"]
    run("synth", "features", "--input-wavs", tmp_path / "corpus", "--recursive",
        "--output-dir", tmp_path / "feats", *model)
    run("synth", "prematch", "--input-wavs", tmp_path / "corpus", "--recursive",
        "--speaker-from-dir", 2, "--features-dir", tmp_path / "feats", "--output-dir",
        tmp_path / "prematched", "--write-list", tmp_path / "train.txt", "--quiet")
    assert len((tmp_path / "train.txt").read_text().splitlines()) == len(corpus)
    (tmp_path / "config.json").write_text(json.dumps(TINY_FEATURE_VOCODER))
    result = run("vocoder", "train", "--config", tmp_path / "config.json", "--output-dir",
                 tmp_path / "run", "--train-list", tmp_path / "train.txt",
                 "--input-features-dir", tmp_path / "prematched", "--max-steps", 3,
                 "--checkpoint-interval", 3, "--num-workers", 0, "--device", "cpu",
                 "--no-progress")
    assert "skipping" not in result.stderr  # every feature file fits its 22.05 kHz audio
    checkpoint = tmp_path / "run" / "g_00000003"
    generator, config = load_generator(checkpoint)
    assert config.is_feature_vocoder and config.generator.upsample_factor == 441

    extractor = load_extractor()
    vc = KnnVC(extractor, generator, config=KnnVCConfig(layer=2))
    assert vc.sample_rate == 22050
    references = [item["path"] for uid, item in sorted(corpus.items()) if item["speaker"] == "26"]
    target = vc.build_matching_set(references)
    source = corpus["19-198-0000"]
    wav = vc.convert(source["path"], target)
    frames = (source["samples16k"] - 400) // 320 + 1
    assert wav.shape == (frames * 441,) and np.isfinite(wav).all()
    assert integrated_loudness(wav, 22050) == pytest.approx(-16.0, abs=0.5)

    # The same voice saved and used by the commands, with the trained vocoder.
    env = dict(HIFISYNTH_HOME=str(tmp_path / "home"), HIFISYNTH_OFFLINE="1")
    models = [*extractor_args, "--layer", 2, "--vc-vocoder", checkpoint]
    run("synth", "voice", *references, "-o", tmp_path / "voice.pt", *models, env=env)
    voice = MatchingSet.load(tmp_path / "voice.pt", model=extractor.name, layer=2,
                             dim=extractor.dim)
    torch.testing.assert_close(voice.features.float(), target.features.half().float())
    run("synth", "convert", source["path"], "--voice", tmp_path / "voice.pt", "-o",
        tmp_path / "converted.wav", *models, env=env)
    converted, rate = load_audio(tmp_path / "converted.wav")
    assert rate == 22050 and converted.shape == wav.shape
    assert np.abs(converted - np.clip(wav, -1, 1)).max() < 1e-3
