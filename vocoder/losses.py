"""HiFi-GAN's training losses: least-squares GAN, feature matching and mel L1.

All losses are computed in float32 whatever dtype the discriminator ran in, and summed
over sub-discriminators in the order :class:`~vocoder.discriminators.DiscriminatorOutput`
lists them (5 periods, then 3 scales), as the published code does.

Weights of the published recipe: feature matching x2 (inside :func:`feature_loss`), mel
L1 x45 (:data:`MEL_LOSS_WEIGHT`, applied by :func:`generator_total`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from .mel import MelSpectrogram

MEL_LOSS_WEIGHT = 45.0
FEATURE_LOSS_WEIGHT = 2.0


def discriminator_loss(real_scores: Sequence[Tensor], fake_scores: Sequence[Tensor]) -> Tensor:
    """LSGAN discriminator loss: ``sum_i mean((1 - D_i(real))^2) + mean(D_i(fake)^2)``."""
    loss = real_scores[0].new_zeros((), dtype=torch.float32)
    for r, g in zip(real_scores, fake_scores):
        loss = loss + torch.mean((1 - r.float()) ** 2) + torch.mean(g.float() ** 2)
    return loss


def generator_adv_loss(fake_scores: Sequence[Tensor]) -> Tensor:
    """LSGAN generator loss: ``sum_i mean((1 - D_i(fake))^2)``."""
    loss = fake_scores[0].new_zeros((), dtype=torch.float32)
    for g in fake_scores:
        loss = loss + torch.mean((1 - g.float()) ** 2)
    return loss


def feature_loss(real_fmaps: Sequence[Sequence[Tensor]],
                 fake_fmaps: Sequence[Sequence[Tensor]]) -> Tensor:
    """Feature matching: ``2 * sum over sub-discriminators and layers of mean|real - fake|``."""
    loss = fake_fmaps[0][0].new_zeros((), dtype=torch.float32)
    for dr, dg in zip(real_fmaps, fake_fmaps):
        for r, g in zip(dr, dg):
            loss = loss + torch.mean(torch.abs(r.float() - g.float()))
    return loss * FEATURE_LOSS_WEIGHT


def mel_l1(mel_fn: MelSpectrogram, wav: Tensor, target_mel: Tensor) -> Tensor:
    """Mean absolute difference between ``mel_fn(wav)`` and ``target_mel`` (unweighted).

    ``wav``: ``(batch, samples)`` or ``(batch, 1, samples)``; ``target_mel``:
    ``(batch, num_mels, frames)``. Computed in float32 with autocast off.
    """
    if wav.dim() == 3:
        wav = wav.squeeze(1)
    with torch.autocast(wav.device.type, enabled=False):
        return F.l1_loss(mel_fn(wav.float()), target_mel.float())


@dataclass
class GeneratorLosses:
    """The parts of the generator loss (float32 scalars); :attr:`total` is what is minimised."""

    adversarial: Tensor
    feature: Tensor
    mel: Tensor  # unweighted mel L1

    @property
    def total(self) -> Tensor:
        return generator_total(self.adversarial, self.feature, self.mel)


def generator_total(adversarial: Tensor, feature: Tensor, mel: Tensor) -> Tensor:
    """``adversarial + feature + 45 * mel`` (the feature term already carries its x2)."""
    return adversarial + feature + MEL_LOSS_WEIGHT * mel


__all__ = ["FEATURE_LOSS_WEIGHT", "GeneratorLosses", "MEL_LOSS_WEIGHT", "discriminator_loss",
           "feature_loss", "generator_adv_loss", "generator_total", "mel_l1"]
