"""BigVGAN generator (Lee et al., 2023; NVIDIA's v1 and v2 releases) for inference.

A HiFi-GAN-shaped generator whose residual blocks use anti-aliased multi-periodicity (AMP)
activations: each activation upsamples 2x with a Kaiser-windowed sinc filter, applies a
periodic Snake (``x + sin^2(a x) / a``) or SnakeBeta (``x + sin^2(a x) / b``) with learned
per-channel ``a`` (and ``b``), and low-pass filters back down. There is no leaky ReLU; the
last activation is also an AMP one. Parameter names follow NVIDIA's code (``ups.{i}.0``,
``resblocks.{n}.activations.{m}.act.alpha``, ``...upsample.filter``...), so its
``bigvgan_generator.pt`` / ``g_XXXXXXXX`` state dicts load once weight norm is folded.

Frames ``(batch, num_mels, T)`` -> waveform ``(batch, 1, T * prod(upsample_rates))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F


@dataclass
class BigVGANShape:
    """Generator settings from BigVGAN's ``config.json`` (its key names)."""

    num_mels: int = 100
    upsample_rates: list[int] = field(default_factory=lambda: [4, 4, 2, 2, 2, 2])
    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [8, 8, 4, 4, 4, 4])
    upsample_initial_channel: int = 1536
    resblock: str = "1"
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 7, 11])
    resblock_dilation_sizes: list[list[int]] = field(
        default_factory=lambda: [[1, 3, 5], [1, 3, 5], [1, 3, 5]])
    activation: str = "snakebeta"
    snake_logscale: bool = True
    use_tanh_at_final: bool = True
    use_bias_at_final: bool = True

    @property
    def upsample_factor(self) -> int:
        return math.prod(self.upsample_rates)


def kaiser_sinc_filter(cutoff: float, half_width: float, kernel_size: int) -> Tensor:
    """Kaiser-windowed sinc low-pass filter ``(1, 1, kernel_size)``, normalised to sum 1."""
    even = kernel_size % 2 == 0
    half = kernel_size // 2
    attenuation = 2.285 * (half - 1) * math.pi * 4 * half_width + 7.95
    if attenuation > 50.0:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21.0:
        beta = 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21.0)
    else:
        beta = 0.0
    window = torch.kaiser_window(kernel_size, beta=beta, periodic=False)
    time = (torch.arange(-half, half) + 0.5) if even else (torch.arange(kernel_size) - half)
    taps = 2 * cutoff * window * torch.sinc(2 * cutoff * time)
    return (taps / taps.sum()).view(1, 1, kernel_size)


class UpSample1d(nn.Module):
    """2x upsampling: replicate-pad, transposed convolution with the sinc filter, crop."""

    def __init__(self, ratio: int = 2, kernel_size: int = 12) -> None:
        super().__init__()
        self.ratio, self.kernel_size = ratio, kernel_size
        self.pad = kernel_size // ratio - 1
        self.pad_left = self.pad * ratio + (kernel_size - ratio) // 2
        self.pad_right = self.pad * ratio + (kernel_size - ratio + 1) // 2
        self.register_buffer("filter", kaiser_sinc_filter(0.5 / ratio, 0.6 / ratio, kernel_size))

    def forward(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        x = self.ratio * F.conv_transpose1d(x, self.filter.expand(channels, -1, -1),
                                            stride=self.ratio, groups=channels)
        return x[..., self.pad_left: -self.pad_right]


class LowPassFilter1d(nn.Module):
    """Replicate-padded, strided depthwise convolution with the sinc filter."""

    def __init__(self, cutoff: float, half_width: float, stride: int, kernel_size: int) -> None:
        super().__init__()
        self.pad_left = kernel_size // 2 - int(kernel_size % 2 == 0)
        self.pad_right = kernel_size // 2
        self.stride = stride
        self.register_buffer("filter", kaiser_sinc_filter(cutoff, half_width, kernel_size))

    def forward(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad_left, self.pad_right), mode="replicate")
        return F.conv1d(x, self.filter.expand(channels, -1, -1), stride=self.stride,
                        groups=channels)


class DownSample1d(nn.Module):
    """2x downsampling through :class:`LowPassFilter1d` (kept as ``lowpass`` for the names)."""

    def __init__(self, ratio: int = 2, kernel_size: int = 12) -> None:
        super().__init__()
        self.lowpass = LowPassFilter1d(0.5 / ratio, 0.6 / ratio, ratio, kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.lowpass(x)


class Snake(nn.Module):
    """``x + sin^2(a x) / a`` per channel; ``a = exp(alpha)`` with ``logscale``."""

    def __init__(self, channels: int, logscale: bool, beta: bool = False) -> None:
        super().__init__()
        self.logscale = logscale
        init = torch.zeros(channels) if logscale else torch.ones(channels)
        self.alpha = nn.Parameter(init.clone())
        self.beta = nn.Parameter(init.clone()) if beta else None

    def forward(self, x: Tensor) -> Tensor:
        alpha = self.alpha.view(1, -1, 1)
        beta = alpha if self.beta is None else self.beta.view(1, -1, 1)
        if self.logscale:
            alpha, beta = torch.exp(alpha), torch.exp(beta)
        return x + (1.0 / (beta + 1e-9)) * torch.sin(x * alpha).pow(2)


class Activation1d(nn.Module):
    """Anti-aliased activation: 2x upsample, Snake/SnakeBeta, 2x downsample."""

    def __init__(self, act: Snake) -> None:
        super().__init__()
        self.act = act
        self.upsample = UpSample1d()
        self.downsample = DownSample1d()

    def forward(self, x: Tensor) -> Tensor:
        return self.downsample(self.act(self.upsample(x)))

    #: input samples each side that can change an output sample (upsampling and low-pass
    #: filters, rounded up)
    CONTEXT = 8


def _conv(channels: int, kernel_size: int, dilation: int) -> nn.Conv1d:
    return nn.Conv1d(channels, channels, kernel_size, dilation=dilation,
                     padding=(kernel_size * dilation - dilation) // 2)


class AMPBlock(nn.Module):
    """AMP residual block. Type "1": per dilation, act -> dilated conv -> act -> conv, plus
    the input (``convs1``/``convs2``); type "2": act -> dilated conv, plus the input
    (``convs``)."""

    def __init__(self, kind: str, channels: int, kernel_size: int, dilations: Sequence[int],
                 activation: str, logscale: bool) -> None:
        super().__init__()
        self.kind = kind
        if kind == "1":
            self.convs1 = nn.ModuleList(_conv(channels, kernel_size, d) for d in dilations)
            self.convs2 = nn.ModuleList(_conv(channels, kernel_size, 1) for _ in dilations)
            layers = 2 * len(dilations)
        else:
            self.convs = nn.ModuleList(_conv(channels, kernel_size, d) for d in dilations)
            layers = len(dilations)
        self.activations = nn.ModuleList(
            Activation1d(Snake(channels, logscale, beta=activation == "snakebeta"))
            for _ in range(layers))

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "1":
            acts = list(self.activations)
            for c1, c2, a1, a2 in zip(self.convs1, self.convs2, acts[::2], acts[1::2]):
                x = c2(a2(c1(a1(x)))) + x
        else:
            for c, a in zip(self.convs, self.activations):
                x = c(a(x)) + x
        return x


class BigVGANGenerator(nn.Module):
    """BigVGAN generator of any published shape, without weight norm (inference)."""

    def __init__(self, shape: BigVGANShape) -> None:
        super().__init__()
        self.shape = shape
        ch0 = shape.upsample_initial_channel
        self.num_kernels = len(shape.resblock_kernel_sizes)
        self.conv_pre = nn.Conv1d(shape.num_mels, ch0, 7, 1, padding=3)
        self.ups = nn.ModuleList(
            nn.ModuleList([nn.ConvTranspose1d(ch0 // 2 ** i, ch0 // 2 ** (i + 1), k, u,
                                              padding=(k - u) // 2)])
            for i, (u, k) in enumerate(zip(shape.upsample_rates, shape.upsample_kernel_sizes)))
        self.resblocks = nn.ModuleList(
            AMPBlock(shape.resblock, ch0 // 2 ** (i + 1), k, d, shape.activation,
                     shape.snake_logscale)
            for i in range(len(self.ups))
            for k, d in zip(shape.resblock_kernel_sizes, shape.resblock_dilation_sizes))
        ch = ch0 // 2 ** len(self.ups)
        self.activation_post = Activation1d(
            Snake(ch, shape.snake_logscale, beta=shape.activation == "snakebeta"))
        self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3, bias=shape.use_bias_at_final)

    @property
    def has_weight_norm(self) -> bool:
        return False

    def remove_weight_norm(self) -> "BigVGANGenerator":
        return self

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, num_mels, T)`` -> ``(batch, 1, T * upsample_factor)`` in [-1, 1]."""
        x = self.conv_pre(x)
        for i, up in enumerate(self.ups):
            x = up[0](x)
            blocks = self.resblocks[i * self.num_kernels:(i + 1) * self.num_kernels]
            xs = blocks[0](x)
            for block in blocks[1:]:
                xs = xs + block(x)
            x = xs / self.num_kernels
        x = self.conv_post(self.activation_post(x))
        return torch.tanh(x) if self.shape.use_tanh_at_final else x.clamp(-1.0, 1.0)


def bigvgan_receptive_field_frames(shape: BigVGANShape) -> int:
    """Input frames each side that can influence an output sample (an upper bound, rounded
    up): enough context for chunked inference to equal whole-input inference."""
    frames = 3.0  # conv_pre
    rate = 1
    act = Activation1d.CONTEXT
    for u, k in zip(shape.upsample_rates, shape.upsample_kernel_sizes):
        frames += math.ceil(k / u) / rate
        rate *= u
        per_kernel = []
        for kernel, dilations in zip(shape.resblock_kernel_sizes, shape.resblock_dilation_sizes):
            half = (kernel - 1) // 2
            if shape.resblock == "1":
                per_kernel.append(sum(2 * act + half * d + half for d in dilations))
            else:
                per_kernel.append(sum(act + half * d for d in dilations))
        frames += max(per_kernel) / rate
    frames += (act + 3) / rate  # activation_post, conv_post
    return math.ceil(frames)


__all__ = ["AMPBlock", "Activation1d", "BigVGANGenerator", "BigVGANShape",
           "bigvgan_receptive_field_frames", "kaiser_sinc_filter"]
