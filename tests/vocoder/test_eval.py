import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.vocoder.trainkit import speechlike, tiny_config
from vocoder.checkpoint import save_generator
from vocoder.config import HiFiGANConfig
from vocoder.evaluate import mrstft_distance, score
from vocoder.generator import HiFiGANGenerator

ROOT = Path(__file__).resolve().parents[2]
SR = 16000


def cli(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "vocoder", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    d = tmp_path_factory.mktemp("refs")
    for i in range(2):
        sf.write(d / f"s{i}.wav", speechlike(i, 2.5, SR), SR, subtype="PCM_16")
    return d


def test_a_file_against_itself_scores_at_the_ceiling():
    x = speechlike(0, 2.5, SR)
    s = score(x, x, SR, HiFiGANConfig().audio, "x")
    assert s.mel_l1 == 0.0 and s.mrstft == 0.0
    assert s.pesq_wb == pytest.approx(4.644, abs=0.01)  # the wideband PESQ ceiling
    assert s.stoi == pytest.approx(1.0, abs=1e-6)
    noisy = x + 0.03 * np.random.default_rng(0).standard_normal(len(x)).astype(np.float32)
    t = score(x, noisy, SR, HiFiGANConfig().audio, "noisy")
    assert t.mel_l1 > 0.1 and t.mrstft > 0.1 and t.pesq_wb < 3.0 and t.stoi < 1.0
    assert mrstft_distance(x, 0.5 * x) > mrstft_distance(x, 0.9 * x) > 0


def test_eval_compare_json(refs, tmp_path):
    r = cli("eval", "--input-wavs", refs, "--compare-wavs", refs, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [f["file"] for f in out["files"]] == ["s0.wav", "s1.wav"]
    assert out["mean"]["mel_l1"] == 0.0 and out["mean"]["mrstft"] == 0.0
    assert out["mean"]["pesq_wb"] > 4.6 and out["mean"]["stoi"] > 0.999


def test_eval_checkpoint_table(refs, tmp_path):
    cfg = HiFiGANConfig.from_dict(tiny_config(sampling_rate=SR))
    torch.manual_seed(0)
    save_generator(tmp_path / "g_00000000", HiFiGANGenerator(cfg.generator), cfg)
    out_dir = tmp_path / "resynth"
    r = cli("eval", "--checkpoint", tmp_path / "g_00000000", "--input-wavs", refs,
            "--save-wavs", out_dir, "--device", "cpu")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["file", "mel_l1", "mrstft", "pesq_wb", "stoi"]
    mean = [l for l in lines if l.startswith("mean")][0].split()
    assert float(mean[1]) > 0.5 and float(mean[2]) > 0.5  # an untrained generator is far off
    assert sorted(p.name for p in out_dir.iterdir()) == ["s0.wav", "s1.wav"]


def test_eval_bad_input(tmp_path):
    r = cli("eval", "--input-wavs", tmp_path / "nope", "--compare-wavs", tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"vocoder: error: {tmp_path / 'nope'}: input "
                                             "directory not found"]
