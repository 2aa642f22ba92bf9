"""One HiFi-GAN training step: a discriminator update, then a generator update.

The published recipe (AdamW, LSGAN + feature matching x2 + mel L1 x45), computed with less work
and the same numbers (see :class:`TrainStep`), in float32 or under autocast (``bf16``,
``fp16`` with a gradient scaler). Nothing here reads files or knows about runs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator, Literal, Sequence

import torch
from torch import Tensor, nn

from ..config import HiFiGANConfig
from ..discriminators import HiFiGANDiscriminator
from ..losses import (MEL_LOSS_WEIGHT, discriminator_loss, feature_loss, generator_adv_loss,
                      generator_total, mel_l1)
from ..mel import MelSpectrogram

Precision = Literal["32", "bf16", "fp16"]
PRECISIONS: dict[str, torch.dtype | None] = {"32": None, "bf16": torch.bfloat16,
                                              "fp16": torch.float16}


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (or the module itself)."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Parameters of ``module`` do not require grad inside the block."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


@dataclass
class StepLosses:
    """Detached float32 scalars of one step (on the training device)."""

    disc: Tensor
    gen_adv: Tensor
    feature: Tensor
    mel: Tensor  # unweighted L1

    @property
    def gen_total(self) -> Tensor:
        return generator_total(self.gen_adv, self.feature, self.mel)

    def as_floats(self) -> dict[str, float]:
        vals = torch.stack([self.disc, self.gen_adv, self.feature, self.mel, self.gen_total]).tolist()
        return dict(zip(["loss_d", "loss_g_adv", "loss_fm", "mel_l1", "loss_g_total"], vals))


def mean_losses(losses: Sequence[StepLosses]) -> dict[str, float]:
    """The mean of each loss over several steps, as floats (one device sync); ``{}`` if none."""
    if not losses:
        return {}
    stacked = torch.stack([torch.stack([a.disc, a.gen_adv, a.feature, a.mel]) for a in losses])
    d, adv, fm, mel = stacked.float().mean(0).tolist()
    return {"loss_d": d, "loss_g_adv": adv, "loss_fm": fm, "mel_l1": mel,
            "loss_g_total": adv + fm + MEL_LOSS_WEIGHT * mel}


class TrainStep:
    """One HiFi-GAN training step: a discriminator update, then a generator update.

    The numbers are those of the published step; the work is less:

    - each weight-normed sub-discriminator scores real and generated audio as one batch
      (see :meth:`HiFiGANDiscriminator.forward`);
    - in the generator update, real audio goes through the discriminators without autograd
      and the discriminators' parameters are frozen: the published step back-propagates
      into both (gradients it then discards), here only the generated branch's input
      gradients are computed;
    - fused AdamW (one kernel per step instead of a dozen passes per tensor), gradients
      freed with ``set_to_none``.

    Args:
        generator, discriminator: modules, possibly wrapped in DistributedDataParallel.
        optim_g, optim_d: their optimisers.
        config: audio settings (mel frontends).
        device: where batches are moved.
        precision: ``32``, ``bf16`` or ``fp16`` (autocast; losses in float32).
        scaler: gradient scaler (``fp16``), shared by both updates.
        input_from_audio: compute the input mel from the target audio (the published recipe);
            ``False`` takes the given frames (fine-tuning mels, features).
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module,
                 optim_g: torch.optim.Optimizer, optim_d: torch.optim.Optimizer,
                 config: HiFiGANConfig, device: torch.device, precision: Precision = "32",
                 scaler: torch.amp.GradScaler | None = None, input_from_audio: bool = True) -> None:
        self.generator = generator
        self.discriminator = discriminator
        self.optim_g, self.optim_d = optim_g, optim_d
        self.device = device
        self.dtype = PRECISIONS[precision]
        self.scaler = scaler if scaler is not None else torch.amp.GradScaler(
            device.type, enabled=precision == "fp16")
        self.input_mel = MelSpectrogram(config.audio).to(device) if input_from_audio else None
        self.loss_mel = MelSpectrogram.for_loss(config.audio).to(device)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def __call__(self, frames: Tensor, audio: Tensor) -> StepLosses:
        """``frames``: ``(batch, channels, n)`` inputs (ignored in audio mode, where the input
        mel is computed from ``audio``); ``audio``: ``(batch, n * hop)`` targets."""
        audio = audio.to(self.device, non_blocking=True)
        with torch.no_grad():
            if self.input_mel is not None:
                frames = self.input_mel(audio)
            else:
                frames = frames.to(self.device, non_blocking=True)
            target_mel = self.loss_mel(audio)
        y = audio.unsqueeze(1)
        with self.autocast():
            y_hat = self.generator(frames)

        # Discriminator update on real and (detached) generated audio.
        self.optim_d.zero_grad(set_to_none=True)
        with self.autocast():
            out = self.discriminator(y, y_hat.detach())
        loss_d = discriminator_loss(out.real_scores, out.fake_scores)
        del out
        self.scaler.scale(loss_d).backward()
        self.scaler.step(self.optim_d)

        # Generator update: adversarial + feature matching + 45 x mel L1.
        self.optim_g.zero_grad(set_to_none=True)
        disc = unwrap(self.discriminator)
        with frozen(disc):
            with self.autocast():
                out = disc(y, y_hat, real_grad=False)
            loss_adv = generator_adv_loss(out.fake_scores)
            loss_fm = feature_loss(out.real_fmaps, out.fake_fmaps)
            loss_mel = mel_l1(self.loss_mel, y_hat, target_mel)
            loss_g = generator_total(loss_adv, loss_fm, loss_mel)
            del out
            self.scaler.scale(loss_g).backward()
        self.scaler.step(self.optim_g)
        self.scaler.update()
        return StepLosses(loss_d.detach(), loss_adv.detach(), loss_fm.detach(), loss_mel.detach())


def build_optimizers(generator: nn.Module, discriminator: HiFiGANDiscriminator,
                     config: HiFiGANConfig, fused: bool = True
                     ) -> tuple[torch.optim.AdamW, torch.optim.AdamW]:
    """AdamW for each side, published settings (weight decay 0.01, AdamW's default).

    The discriminator's parameters are ordered MSD first, then MPD, as in the published
    ``optim_d`` (so a published optimizer state maps onto the right tensors).
    """
    t = config.train
    kw: dict[str, Any] = dict(lr=t.learning_rate, betas=(t.adam_b1, t.adam_b2))
    if fused:
        kw["fused"] = True
    optim_g = torch.optim.AdamW(generator.parameters(), **kw)
    optim_d = torch.optim.AdamW(list(discriminator.msd.parameters()) +
                                list(discriminator.mpd.parameters()), **kw)
    return optim_g, optim_d


def build_schedulers(optim_g: torch.optim.Optimizer, optim_d: torch.optim.Optimizer,
                     config: HiFiGANConfig) -> tuple[torch.optim.lr_scheduler.ExponentialLR, ...]:
    """The published per-epoch learning-rate decay (x ``lr_decay``) for each optimiser."""
    gamma = config.train.lr_decay
    return (torch.optim.lr_scheduler.ExponentialLR(optim_g, gamma=gamma),
            torch.optim.lr_scheduler.ExponentialLR(optim_d, gamma=gamma))


__all__ = ["PRECISIONS", "Precision", "StepLosses", "TrainStep", "build_optimizers",
           "build_schedulers", "frozen", "mean_losses", "unwrap"]
