"""Helpers for the training/eval tests: speech-like audio, tiny configs, published-style
(PyTorch 1.x) discriminators built with the old ``weight_norm``/``spectral_norm`` functions."""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import nn

TINY_SR = 8000


def speechlike(seed: int, seconds: float, sr: int) -> np.ndarray:
    """Voiced-speech-like audio: a gliding harmonic source with syllable-rate envelope."""
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    f0 = 110 + 40 * seed % 60 + 30 * np.sin(2 * np.pi * 1.5 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    harmonics = int(min(40, (sr / 2) // 300))
    x = sum(np.sin(k * phase) / k for k in range(1, harmonics + 1))
    env = np.clip(np.sin(2 * np.pi * 3 * t + rng.uniform(0, 6)), 0, None) ** 0.5
    x = 0.4 * x * env / np.abs(x).max() + 0.003 * rng.standard_normal(n)
    return x.astype(np.float32)


def write_wavs(directory: Path, count: int, seconds: float = 0.5, sr: int = TINY_SR,
               prefix: str = "utt") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        p = directory / f"{prefix}{i:02d}.wav"
        sf.write(p, speechlike(i, seconds, sr), sr, subtype="PCM_16")
        paths.append(p)
    return paths


def tiny_config(**overrides) -> dict:
    """A published-format config for a tiny mel vocoder (8 kHz, hop 16) with narrow
    discriminators (``discriminator_width_divisor`` 8)."""
    cfg = {"resblock": "1", "upsample_rates": [4, 4], "upsample_kernel_sizes": [8, 8],
           "upsample_initial_channel": 32, "resblock_kernel_sizes": [3],
           "resblock_dilation_sizes": [[1, 3, 5]], "batch_size": 2, "learning_rate": 0.0002,
           "adam_b1": 0.8, "adam_b2": 0.99, "lr_decay": 0.999, "seed": 1234,
           "segment_size": 512, "num_mels": 20, "n_fft": 128, "hop_size": 16, "win_size": 128,
           "sampling_rate": TINY_SR, "fmin": 0, "fmax": 4000, "fmax_for_loss": None,
           "num_workers": 0, "discriminator_width_divisor": 8}
    cfg.update(overrides)
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg, indent=2))
    return path


# ------------------------------------------------ published discriminators, PyTorch 1.x style

def _old_norm(spectral: bool):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.nn.utils.spectral_norm if spectral else torch.nn.utils.weight_norm


class OldDiscriminatorP(nn.Module):
    def __init__(self, period: int, w: int = 1) -> None:
        super().__init__()
        self.period = period
        norm = _old_norm(False)
        ch = [1] + [c // w for c in (32, 128, 512, 1024, 1024)]
        self.convs = nn.ModuleList([
            norm(nn.Conv2d(ch[i], ch[i + 1], (5, 1), (3 if i < 4 else 1, 1), padding=(2, 0)))
            for i in range(5)])
        self.conv_post = norm(nn.Conv2d(ch[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x):
        fmap = []
        b, c, t = x.shape
        if t % self.period:
            n_pad = self.period - t % self.period
            x = torch.nn.functional.pad(x, (0, n_pad), "reflect")
            t += n_pad
        x = x.view(b, c, t // self.period, self.period)
        for layer in self.convs:
            x = torch.nn.functional.leaky_relu(layer(x), 0.1)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class OldDiscriminatorS(nn.Module):
    def __init__(self, spectral: bool = False, w: int = 1) -> None:
        super().__init__()
        norm = _old_norm(spectral)
        spec = [(1, 128, 15, 1, 1, 7), (128, 128, 41, 2, 4, 20), (128, 256, 41, 2, 16, 20),
                (256, 512, 41, 4, 16, 20), (512, 1024, 41, 4, 16, 20),
                (1024, 1024, 41, 1, 16, 20), (1024, 1024, 5, 1, 1, 2)]
        self.convs = nn.ModuleList([
            norm(nn.Conv1d(max(i // w, 1), o // w, k, s, groups=g, padding=p))
            for i, o, k, s, g, p in spec])
        self.conv_post = norm(nn.Conv1d(1024 // w, 1, 3, 1, padding=1))

    def forward(self, x):
        fmap = []
        for layer in self.convs:
            x = torch.nn.functional.leaky_relu(layer(x), 0.1)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class OldMPD(nn.Module):
    def __init__(self, w: int = 1) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(OldDiscriminatorP(p, w) for p in (2, 3, 5, 7, 11))


class OldMSD(nn.Module):
    def __init__(self, w: int = 1) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList([OldDiscriminatorS(True, w), OldDiscriminatorS(False, w),
                                             OldDiscriminatorS(False, w)])
        self.meanpools = nn.ModuleList([nn.AvgPool1d(4, 2, padding=2), nn.AvgPool1d(4, 2, padding=2)])


def old_optimizer_state(optim: torch.optim.Optimizer) -> dict:
    """An optimizer state dict as PyTorch 1.x saved it: integer steps, no newer group keys."""
    sd = optim.state_dict()
    state = {k: {**v, "step": int(v["step"])} for k, v in sd["state"].items()}
    groups = []
    for g in sd["param_groups"]:
        g = {k: v for k, v in g.items() if k in ("lr", "betas", "eps", "weight_decay", "amsgrad",
                                                   "params", "initial_lr")}
        groups.append(g)
    return {"state": state, "param_groups": groups}


# --------------------------------------------------------------- running training in tests

REPO = Path(__file__).resolve().parents[2]


def train_options(cfg: Path, run: Path, wavs: Path | None, **overrides):
    """Quick :class:`TrainOptions`: 4 steps, a checkpoint every 2, losses every step, no
    workers, no progress bar, every checkpoint kept."""
    from vocoder.train import TrainOptions

    base = dict(config=str(cfg), output_dir=run, train_wavs=str(wavs) if wavs else None,
                max_steps=4, checkpoint_interval=2, validation_interval=1000, log_interval=1,
                num_workers=0, progress=False, keep_last=0)
    base.update(overrides)
    return TrainOptions(**base)


def run_vocoder(*args, timeout: float = 300,
                env: dict | None = None) -> "subprocess.CompletedProcess":
    """``python -m vocoder args...`` in a fresh process with this checkout first on the path
    (in ``env``, default this process's environment)."""
    import os
    import sys

    env = dict(os.environ if env is None else env, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "vocoder", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)


def state_of(run: Path, steps: int) -> tuple[dict, dict]:
    """The generator state and the ``do_`` dict of a run's checkpoint pair."""
    from vocoder.checkpoint import read_checkpoint

    g = read_checkpoint(run / f"g_{steps:08d}")["generator"]
    do = read_checkpoint(run / f"do_{steps:08d}")
    return g, do


def assert_same_state(a: tuple[dict, dict], b: tuple[dict, dict]) -> None:
    """Two checkpoint pairs hold bit-identical weights, optimizer moments and positions."""
    (ga, da), (gb, db) = a, b
    assert ga.keys() == gb.keys()
    for k in ga:
        assert torch.equal(ga[k], gb[k]), k
    for part in ("mpd", "msd"):
        for k in da[part]:
            assert torch.equal(da[part][k], db[part][k]), (part, k)
    for opt in ("optim_g", "optim_d"):
        for i, st in da[opt]["state"].items():
            for k, v in st.items():
                assert torch.equal(v, db[opt]["state"][i][k]), (opt, i, k)
    assert (da["steps"], da["epoch"]) == (db["steps"], db["epoch"])
    assert da["hifisynth"]["batch_in_epoch"] == db["hifisynth"]["batch_in_epoch"]
    assert da["hifisynth"]["scheduler_g"] == db["hifisynth"]["scheduler_g"]


def train_args(cfg: Path, run: Path, wavs: Path, device: str, steps: int = 2,
               batch_size: int = 4, *extra: str) -> list[str]:
    """``vocoder train`` arguments for a quick run: ``steps`` steps, one checkpoint at the end."""
    return ["train", "--config", str(cfg), "--output-dir", str(run), "--train-wavs", str(wavs),
            "--max-steps", str(steps), "--checkpoint-interval", str(steps), "--batch-size",
            str(batch_size), "--num-workers", "0", "--no-progress", "--device", device, *extra]


def run_torchrun(args: list[str], processes: int = 2, env: dict | None = None,
                 timeout: float = 300) -> "subprocess.CompletedProcess":
    """``torchrun --nproc_per_node N -m vocoder ARGS`` with this checkout first on the path."""
    import os
    import subprocess
    import sys

    env = dict(os.environ if env is None else env, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    port = 29500 + os.getpid() % 1000
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
               "--master_port", str(port), "-m", "vocoder", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def assert_same_training(a: tuple[dict, dict], b: tuple[dict, dict], rtol: float,
                         atol: float) -> None:
    """Two runs' checkpoint pairs hold the same generator and MPD weights within tolerance."""
    (ga, da), (gb, db) = a, b
    assert ga.keys() == gb.keys()
    for k in ga:
        torch.testing.assert_close(ga[k], gb[k], rtol=rtol, atol=atol)
    for k in da["mpd"]:
        torch.testing.assert_close(da["mpd"][k], db["mpd"][k], rtol=rtol, atol=atol)
