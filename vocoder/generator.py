"""HiFi-GAN generator (Kong et al., 2020) with the published parameter names.

Frames ``(batch, in_channels, frames)`` -> transposed-convolution upsampling stages, each
followed by a multi-receptive-field fusion of residual blocks -> waveform
``(batch, 1, frames * prod(upsample_rates))`` in [-1, 1].

Parameter names match the published checkpoints: ``conv_pre``, ``ups.{i}``,
``resblocks.{n}.convs1.{m}`` / ``convs2.{m}`` (type 1) or ``convs.{m}`` (type 2),
``conv_post``, and ``lin_pre`` for feature-input (kNN-VC) vocoders.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm as _weight_norm

from .config import GeneratorConfig, preset
from .errors import InputError

LRELU_SLOPE = 0.1
POST_LRELU_SLOPE = 0.01  # the published model's default-slope leaky ReLU before conv_post


def _padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


def _conv(channels: int, kernel_size: int, dilation: int, padding_mode: str = "zeros"
          ) -> nn.Conv1d:
    return nn.Conv1d(channels, channels, kernel_size, 1, dilation=dilation,
                     padding=_padding(kernel_size, dilation), padding_mode=padding_mode)


def _upsample(in_channels: int, out_channels: int, kernel_size: int, rate: int
              ) -> nn.ConvTranspose1d:
    """Transposed convolution giving exactly ``rate`` samples per input sample.

    ``kernel - rate`` even: padding ``(kernel - rate) / 2`` (the published layer). Odd (ESPnet /
    ParallelWaveGAN, e.g. kernel 10 for rate 5): one more sample of padding and one sample of
    output padding, as ParallelWaveGAN's HiFi-GAN does.
    """
    extra = (kernel_size - rate) % 2
    return nn.ConvTranspose1d(in_channels, out_channels, kernel_size, rate,
                              padding=(kernel_size - rate) // 2 + extra, output_padding=extra)


class ResBlock1(nn.Module):
    """Type-1 block: per dilation, lrelu -> dilated conv -> lrelu -> conv, plus the input."""

    def __init__(self, channels: int, kernel_size: int, dilations: Sequence[int],
                 padding_mode: str = "zeros") -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(_conv(channels, kernel_size, d, padding_mode)
                                    for d in dilations)
        self.convs2 = nn.ModuleList(_conv(channels, kernel_size, 1, padding_mode)
                                    for _ in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            xt = nn.functional.leaky_relu_(c1(nn.functional.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE)
            x = c2(xt).add_(x)  # in place on fresh outputs: fewer large allocations
        return x


class ResBlock2(nn.Module):
    """Type-2 block (V3): per dilation, lrelu -> dilated conv, plus the input."""

    def __init__(self, channels: int, kernel_size: int, dilations: Sequence[int],
                 padding_mode: str = "zeros") -> None:
        super().__init__()
        self.convs = nn.ModuleList(_conv(channels, kernel_size, d, padding_mode)
                                   for d in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for c in self.convs:
            x = c(nn.functional.leaky_relu(x, LRELU_SLOPE)).add_(x)
        return x


class HiFiGANGenerator(nn.Module):
    """HiFi-GAN generator built from a :class:`GeneratorConfig`.

    Two variants other toolkits publish are options of the config: ``conv_padding_mode``
    ``"reflect"`` (SpeechBrain pads every non-upsampling convolution by reflection) and an
    upsampling kernel minus rate that is odd (ESPnet/ParallelWaveGAN, see :func:`_upsample`).

    Built with weight norm (as trained and as published training checkpoints store it);
    :meth:`remove_weight_norm` folds it into plain weights for inference, output unchanged.

    Args:
        config: generator shape.
        weight_norm: wrap every convolution in weight normalisation.
    """

    def __init__(self, config: GeneratorConfig, weight_norm: bool = True) -> None:
        super().__init__()
        config.validate("generator config")
        self.config = config
        self.num_kernels = len(config.resblock_kernel_sizes)
        self.upsample_factor = config.upsample_factor
        self.lin_pre = (nn.Linear(config.input_dim, config.in_channels)
                        if config.input_dim is not None else None)
        ch0 = config.upsample_initial_channel
        pad = config.conv_padding_mode
        self.conv_pre = nn.Conv1d(config.in_channels, ch0, 7, 1, padding=3, padding_mode=pad)
        self.ups = nn.ModuleList(
            _upsample(ch0 // 2 ** i, ch0 // 2 ** (i + 1), k, u)
            for i, (u, k) in enumerate(zip(config.upsample_rates, config.upsample_kernel_sizes)))
        block = ResBlock1 if config.resblock == "1" else ResBlock2
        self.resblocks = nn.ModuleList(
            block(ch0 // 2 ** (i + 1), k, d, pad)
            for i in range(len(self.ups))
            for k, d in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes))
        self.conv_post = nn.Conv1d(ch0 // 2 ** len(self.ups), 1, 7, 1, padding=3,
                                   padding_mode=pad)
        self._init_weights()
        if weight_norm:
            for conv in self._convs():
                _weight_norm(conv)

    def _convs(self) -> list[nn.Module]:
        return [m for m in self.modules() if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d))]

    def _init_weights(self) -> None:
        # Published init: N(0, 0.01) for the upsampling and residual convolutions.
        for m in list(self.ups) + list(self.resblocks.modules()) + [self.conv_post]:
            if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
                nn.init.normal_(m.weight, 0.0, 0.01)

    @property
    def has_weight_norm(self) -> bool:
        return parametrize.is_parametrized(self.conv_pre)

    def remove_weight_norm(self) -> "HiFiGANGenerator":
        """Fold weight norm into plain weights (in place); returns ``self``."""
        for conv in self._convs():
            if parametrize.is_parametrized(conv, "weight"):
                parametrize.remove_parametrizations(conv, "weight", leave_parametrized=True)
        return self

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, channels, frames)`` -> ``(batch, 1, frames * upsample_factor)``.

        ``channels`` is ``input_dim`` for a feature vocoder, else ``in_channels`` (mels).
        """
        expected = self.config.input_dim or self.config.in_channels
        if x.dim() != 3 or x.shape[1] != expected:
            raise InputError(f"generator expects input of shape (batch, {expected}, frames), "
                             f"got {tuple(x.shape)}")
        if self.lin_pre is not None:
            x = self.lin_pre(x.transpose(1, 2)).transpose(1, 2)
        x = self.conv_pre(x)
        for i, up in enumerate(self.ups):
            x = up(nn.functional.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.num_kernels:(i + 1) * self.num_kernels]
            xs = blocks[0](x)
            for block in blocks[1:]:
                xs.add_(block(x))
            x = xs.div_(self.num_kernels)
        x = self.conv_post(nn.functional.leaky_relu(x, POST_LRELU_SLOPE))
        return torch.tanh(x)


def receptive_field_frames(config: GeneratorConfig) -> int:
    """Input frames on each side that can influence an output sample (rounded up).

    Chunked inference with at least this much context on both sides of each chunk gives the
    same output as processing the whole input at once.
    """
    frames = 3.0  # conv_pre, kernel 7
    rate = 1
    for u, k in zip(config.upsample_rates, config.upsample_kernel_sizes):
        frames += math.ceil(k / u) / rate  # transposed conv, in its input's samples
        rate *= u
        per_kernel = []
        for kernel, dilations in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes):
            half = (kernel - 1) // 2
            ctx = sum(half * d for d in dilations)
            if config.resblock == "1":
                ctx += half * len(dilations)  # the undilated second conv of each pair
            per_kernel.append(ctx)
        frames += max(per_kernel) / rate
    frames += 3 / rate  # conv_post, kernel 7
    return math.ceil(frames)


def hifigan_generator(
    *,
    upsample_rates: Sequence[int],
    upsample_kernel_sizes: Sequence[int],
    upsample_initial_channel: int,
    resblock: str,
    resblock_kernel_sizes: Sequence[int],
    resblock_dilation_sizes: Sequence[Sequence[int]],
    in_channels: int = 80,
    input_dim: int | None = None,
    weight_norm: bool = True,
) -> HiFiGANGenerator:
    """A generator of any shape (see :class:`GeneratorConfig` for the arguments)."""
    config = GeneratorConfig(
        upsample_rates=list(upsample_rates), upsample_kernel_sizes=list(upsample_kernel_sizes),
        upsample_initial_channel=upsample_initial_channel, resblock=str(resblock),
        resblock_kernel_sizes=list(resblock_kernel_sizes),
        resblock_dilation_sizes=[list(d) for d in resblock_dilation_sizes],
        in_channels=in_channels, input_dim=input_dim)
    return HiFiGANGenerator(config, weight_norm=weight_norm)


def hifigan_v1(in_channels: int = 80, weight_norm: bool = True) -> HiFiGANGenerator:
    """Published V1: 13,926,017 parameters with 80 mels."""
    cfg = preset("v1").generator
    cfg.in_channels = in_channels
    return HiFiGANGenerator(cfg, weight_norm=weight_norm)


def hifigan_v2(in_channels: int = 80, weight_norm: bool = True) -> HiFiGANGenerator:
    """Published V2: 925,985 parameters with 80 mels."""
    cfg = preset("v2").generator
    cfg.in_channels = in_channels
    return HiFiGANGenerator(cfg, weight_norm=weight_norm)


def hifigan_v3(in_channels: int = 80, weight_norm: bool = True) -> HiFiGANGenerator:
    """Published V3: 1,462,273 parameters with 80 mels."""
    cfg = preset("v3").generator
    cfg.in_channels = in_channels
    return HiFiGANGenerator(cfg, weight_norm=weight_norm)


def hifigan_knnvc(input_dim: int = 1024, hidden: int = 512,
                  weight_norm: bool = True) -> HiFiGANGenerator:
    """kNN-VC feature vocoder: ``lin_pre`` (input_dim -> hidden), then V1 with x320 upsampling."""
    cfg = preset("knnvc").generator
    cfg.input_dim, cfg.in_channels = input_dim, hidden
    return HiFiGANGenerator(cfg, weight_norm=weight_norm)
