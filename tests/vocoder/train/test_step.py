"""One training step's maths: losses fall on a fixed batch, mixed precision stays finite."""

import numpy as np
import pytest
import torch

from tests.vocoder.trainkit import speechlike
from vocoder.config import HiFiGANConfig
from vocoder.discriminators import HiFiGANDiscriminator
from vocoder.generator import HiFiGANGenerator
from vocoder.losses import MEL_LOSS_WEIGHT
from vocoder.train.step import TrainStep, build_optimizers, build_schedulers, mean_losses

pytestmark = pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated")


def _step(cfg_path, precision="32"):
    cfg = HiFiGANConfig.load(cfg_path)
    torch.manual_seed(0)
    g, d = HiFiGANGenerator(cfg.generator), HiFiGANDiscriminator.from_config(cfg)
    og, od = build_optimizers(g, d, cfg)
    step = TrainStep(g, d, og, od, cfg, torch.device("cpu"), precision=precision)
    audio = torch.from_numpy(np.stack([speechlike(i, 0.064, 8000) for i in range(2)]))
    return step, g, audio


def test_loss_goes_down_on_a_fixed_batch(data):
    step, _, audio = _step(data[2])
    losses = [step(torch.empty(0), audio) for _ in range(8)]
    mel = [l.mel.item() for l in losses]
    disc = [l.disc.item() for l in losses]
    assert all(np.isfinite(mel)) and all(np.isfinite(disc))
    assert mel[-1] < 0.9 * mel[0], mel
    assert disc[-1] < disc[0], disc
    # the logged means: one device sync for many steps, the published weighting
    means = mean_losses(losses[:2])
    assert means["mel_l1"] == pytest.approx((mel[0] + mel[1]) / 2, rel=1e-6)
    assert means["loss_g_total"] == pytest.approx(
        means["loss_g_adv"] + means["loss_fm"] + MEL_LOSS_WEIGHT * means["mel_l1"], rel=1e-6)
    assert mean_losses([]) == {}


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_steps_are_finite(data, precision):
    step, g, audio = _step(data[2], precision)
    before = g.conv_post.parametrizations.weight.original1.detach().clone()
    for _ in range(2):
        out = step(torch.empty(0), audio).as_floats()
        assert all(np.isfinite(v) for v in out.values()), out
    assert step.scaler.is_enabled() == (precision == "fp16")
    if precision == "bf16":
        assert not torch.equal(before, g.conv_post.parametrizations.weight.original1)


def test_optimizers_and_schedulers_follow_the_published_recipe(data):
    cfg = HiFiGANConfig.load(data[2])
    g, d = HiFiGANGenerator(cfg.generator), HiFiGANDiscriminator.from_config(cfg)
    og, od = build_optimizers(g, d, cfg)
    group = og.param_groups[0]
    assert (group["lr"], group["betas"], group["weight_decay"]) == (2e-4, (0.8, 0.99), 0.01)
    # the published optim_d lists the MSD's parameters first, then the MPD's
    assert od.param_groups[0]["params"][0] is next(d.msd.parameters())
    sg, _ = build_schedulers(og, od, cfg)
    og.step()  # (no gradients: nothing moves) an epoch's steps come before its decay
    sg.step()
    assert og.param_groups[0]["lr"] == pytest.approx(2e-4 * 0.999)
