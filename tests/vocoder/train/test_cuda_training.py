"""Training on CUDA GPUs: steps in each precision, the command with fp16's grad scaler, and two
NCCL processes that compute what one process computes (skipped without CUDA, the last one
without two GPUs; ``benchmarks/gpu_check.sh`` runs these on a GPU machine).

Tolerances:

- a step's losses on the GPU against the same step on the CPU in float32, from the same weights
  and batch (before any update, so only rounding differs): 1e-2 relative in float32 (cuDNN
  convolutions in TF32 round inputs to a 10-bit mantissa), 5e-2 in bf16/fp16 (autocast).
- two NCCL processes against one process with the same global batch, after 2 steps:
  1e-3 relative, 1e-5 absolute, with TF32 off in both (``NVIDIA_TF32_OVERRIDE=0``); what is
  left is the order of sums (all-reduce, cuDNN's algorithm choices). The gloo test on CPU
  holds 1e-4 / 1e-6.
"""

from __future__ import annotations

import copy
import math
import os

import numpy as np
import pytest
import torch

from tests.vocoder.trainkit import (assert_same_training, run_torchrun, run_vocoder, speechlike,
                                    state_of, train_args)
from vocoder.config import HiFiGANConfig
from vocoder.discriminators import HiFiGANDiscriminator
from vocoder.generator import HiFiGANGenerator
from vocoder.train import list_checkpoints
from vocoder.train.step import TrainStep, build_optimizers

pytestmark = [pytest.mark.cuda,
              pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated")]

LOSS_RTOL = {"32": 1e-2, "bf16": 5e-2, "fp16": 5e-2}


def _models(cfg: HiFiGANConfig) -> tuple[HiFiGANGenerator, HiFiGANDiscriminator]:
    torch.manual_seed(0)
    return HiFiGANGenerator(cfg.generator), HiFiGANDiscriminator.from_config(cfg)


def _step(g, d, cfg, device: str, precision: str) -> TrainStep:
    g, d = g.to(device), d.to(device)
    og, od = build_optimizers(g, d, cfg)  # fused AdamW, on the GPU too
    return TrainStep(g, d, og, od, cfg, torch.device(device), precision=precision)


@pytest.mark.parametrize("precision", ["32", "bf16", "fp16"])
def test_cuda_training_steps_in_each_precision(data, precision) -> None:
    cfg = HiFiGANConfig.load(data[2])
    audio = torch.from_numpy(np.stack([speechlike(i, 0.128, 8000) for i in range(4)]))
    g, d = _models(cfg)
    cpu_step = _step(copy.deepcopy(g), copy.deepcopy(d), cfg, "cpu", "32")
    expected = cpu_step(torch.empty(0), audio).as_floats()

    step = _step(g, d, cfg, "cuda", precision)
    assert step.scaler.is_enabled() == (precision == "fp16")
    before_g = {k: v.detach().clone() for k, v in g.state_dict().items()}
    before_d = {k: v.detach().clone() for k, v in d.state_dict().items()}
    first = step(torch.empty(0), audio).as_floats()
    for name in ("loss_d", "mel_l1", "loss_g_total"):
        assert first[name] == pytest.approx(expected[name], rel=LOSS_RTOL[precision]), name
    # fp16: the scaler skips the steps whose scaled gradients overflow and lowers its scale;
    # within 10 steps the weights must move.
    for _ in range(10):
        losses = step(torch.empty(0), audio).as_floats()
        assert all(math.isfinite(v) for v in losses.values()), losses
        moved_g = any(not torch.equal(before_g[k], v) for k, v in g.state_dict().items())
        moved_d = any(not torch.equal(before_d[k], v) for k, v in d.state_dict().items())
        if moved_g and moved_d:
            break
    assert moved_g and moved_d
    assert all(p.device.type == "cuda" for p in g.parameters())
    if precision == "fp16":
        assert math.isfinite(step.scaler.get_scale()) and step.scaler.get_scale() > 0


def test_cuda_train_command_fp16_saves_and_resumes_the_grad_scaler(data, tmp_path) -> None:
    _, wavs, cfg = data
    run = tmp_path / "fp16"
    first = run_vocoder(*train_args(cfg, run, wavs, "cuda", 2, 2, "--precision", "fp16"))
    assert first.returncode == 0, first.stderr[-3000:]
    _, do = state_of(run, 2)
    scale = do["hifisynth"]["scaler"]["scale"]
    assert math.isfinite(float(scale)) and float(scale) > 0
    again = run_vocoder(*train_args(cfg, run, wavs, "cuda", 3, 2, "--precision", "fp16"))
    assert again.returncode == 0, again.stderr[-3000:]
    assert list_checkpoints(run) == [2, 3]
    generator, do = state_of(run, 3)
    assert do["hifisynth"]["scaler"] is not None
    assert all(torch.isfinite(v).all() for v in generator.values())


@pytest.mark.skipif(torch.cuda.device_count() < 2,
                    reason=f"needs 2 or more CUDA GPUs for NCCL (found {torch.cuda.device_count()})")
def test_torchrun_two_processes_nccl(data, tmp_path) -> None:
    _, wavs, cfg = data
    env = dict(os.environ, NVIDIA_TF32_OVERRIDE="0")
    run = tmp_path / "ddp"
    r = run_torchrun(train_args(cfg, run, wavs, "cuda"), env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert list_checkpoints(run) == [2]
    assert r.stderr.count("saved g_00000002") == 1  # only rank 0 writes
    assert state_of(run, 2)[1]["hifisynth"]["world_size"] == 2
    # two ranks x 2 items see the same 4 items per step as one process with batch 4
    single = tmp_path / "single"
    one = run_vocoder(*train_args(cfg, single, wavs, "cuda:0"), env=env)
    assert one.returncode == 0, one.stderr[-3000:]
    assert_same_training(state_of(run, 2), state_of(single, 2), rtol=1e-3, atol=1e-5)
