"""HiFi-GAN's multi-period and multi-scale discriminators, with the published parameter names.

- :class:`MultiPeriodDiscriminator` (``mpd``): one :class:`PeriodDiscriminator` per period
  (2, 3, 5, 7, 11). A waveform ``(batch, 1, samples)`` is reflect-padded to a multiple of the
  period and folded to ``(batch, 1, samples / period, period)``; 2-D convolutions with
  ``(k, 1)`` kernels then look at every period-th sample.
- :class:`MultiScaleDiscriminator` (``msd``): three :class:`ScaleDiscriminator` on the raw,
  x2 and x4 average-pooled waveform; the first uses spectral norm, the others weight norm.

Each sub-discriminator returns its scores ``(batch, n)`` and the feature map after every
layer (for the feature-matching loss).

:class:`HiFiGANDiscriminator` holds both and runs them the way a training step needs (see
:meth:`HiFiGANDiscriminator.forward`): for the discriminator update, real and generated
audio go through each weight-normed sub-discriminator as one concatenated batch (the same
numbers as two passes, one kernel launch per layer); the spectral-normed one still runs
real, then fake, so its power iteration advances twice per pass exactly as in the published
code. For the generator update, real audio runs without autograd (its features are
constants of the generator loss).

Checkpoint names are the published ones: ``discriminators.{i}.convs.{j}``,
``discriminators.{i}.conv_post``, ``meanpools``. :func:`published_state_dict` writes the
PyTorch 1.x names the published ``do_XXXXXXXX`` files use (``weight_g``/``weight_v`` for
weight norm; ``weight_orig``/``weight_u``/``weight_v`` for spectral norm) and
:func:`load_discriminator_state` reads those as well as current PyTorch names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from .config import ConfigError, HiFiGANConfig
from .errors import InputError
from .weightnorm import current_weight_norm_names, legacy_weight_norm_names

LRELU_SLOPE = 0.1
PERIODS = (2, 3, 5, 7, 11)


class PublishedSpectralNorm(nn.Module):
    """Spectral-norm parametrization computing exactly what PyTorch 1.x ``spectral_norm`` did.

    The published discriminators were trained with ``torch.nn.utils.spectral_norm``: in
    training mode every forward runs one power iteration, ``v = normalize(W^T u)`` then
    ``u = normalize(W v)``, and divides the weight by ``sigma = u . (W v)``. (The newer
    ``torch.nn.utils.parametrizations.spectral_norm`` updates ``u`` first, so its numbers
    differ slightly.) ``u`` and ``v`` are buffers ``_u`` (out channels) and ``_v``
    (in channels x kernel) that a checkpoint stores as ``weight_u`` / ``weight_v``.

    Computed in float32 even under autocast: the power iteration needs the precision.
    """

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, eps: float = 1e-12) -> None:
        super().__init__()
        self.n_power_iterations = n_power_iterations
        self.eps = eps
        h, w = weight.shape[0], weight[0].numel()
        self.register_buffer("_u", F.normalize(weight.new_empty(h).normal_(0, 1), dim=0, eps=eps))
        self.register_buffer("_v", F.normalize(weight.new_empty(w).normal_(0, 1), dim=0, eps=eps))

    def forward(self, weight: Tensor) -> Tensor:
        with torch.autocast(weight.device.type, enabled=False):
            mat = weight.flatten(1)
            u, v = self._u, self._v
            if self.training and self.n_power_iterations > 0:
                with torch.no_grad():
                    for _ in range(self.n_power_iterations):
                        v = F.normalize(torch.mv(mat.t(), u), dim=0, eps=self.eps, out=v)
                        u = F.normalize(torch.mv(mat, v), dim=0, eps=self.eps, out=u)
                # Clone so an autograd graph holding this forward's u, v survives the next
                # forward's in-place update (real and fake passes before one backward).
                u = u.clone(memory_format=torch.contiguous_format)
                v = v.clone(memory_format=torch.contiguous_format)
            sigma = torch.dot(u, torch.mv(mat, v))
            return weight / sigma


def spectral_norm(module: nn.Module, n_power_iterations: int = 1, eps: float = 1e-12) -> nn.Module:
    """Register :class:`PublishedSpectralNorm` on ``module.weight``; returns ``module``."""
    parametrize.register_parametrization(
        module, "weight", PublishedSpectralNorm(module.weight.detach(), n_power_iterations, eps))
    return module


WIDTH_KEY = "discriminator_width_divisor"
_DIVISORS = (1, 2, 4, 8)


def _check_divisor(width_divisor: int) -> int:
    if width_divisor not in _DIVISORS:
        raise InputError(f"width_divisor must be one of {list(_DIVISORS)}, got {width_divisor}")
    return width_divisor


def _pad(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


class PeriodDiscriminator(nn.Module):
    """Sub-discriminator of the MPD for one period.

    Layers (published shapes): 1 -> 32 -> 128 -> 512 -> 1024 channels with ``(5, 1)``
    kernels and stride 3 along time, a 1024 -> 1024 layer with stride 1, and ``conv_post``
    (1024 -> 1, kernel ``(3, 1)``), each followed by leaky ReLU (0.1) except ``conv_post``.
    """

    def __init__(self, period: int, kernel_size: int = 5, stride: int = 3,
                 use_spectral_norm: bool = False, width_divisor: int = 1) -> None:
        super().__init__()
        self.period = period
        norm = spectral_norm if use_spectral_norm else weight_norm
        w = _check_divisor(width_divisor)
        chans = [1] + [c // w for c in (32, 128, 512, 1024, 1024)]
        self.convs = nn.ModuleList(
            norm(nn.Conv2d(cin, cout, (kernel_size, 1), (stride if i < 4 else 1, 1),
                           padding=(_pad(5), 0)))
            for i, (cin, cout) in enumerate(zip(chans[:-1], chans[1:])))
        self.conv_post = norm(nn.Conv2d(chans[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """``(batch, 1, samples)`` -> scores ``(batch, n)`` and 6 feature maps
        ``(batch, channels, frames, period)``."""
        b, c, t = x.shape
        if t % self.period:
            n_pad = self.period - t % self.period
            x = F.pad(x, (0, n_pad), "reflect")
            t += n_pad
        x = x.view(b, c, t // self.period, self.period)
        fmaps = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            fmaps.append(x)
        x = self.conv_post(x)
        fmaps.append(x)
        return torch.flatten(x, 1, -1), fmaps


class ScaleDiscriminator(nn.Module):
    """Sub-discriminator of the MSD: grouped strided 1-D convolutions (published shapes)."""

    def __init__(self, use_spectral_norm: bool = False, width_divisor: int = 1) -> None:
        super().__init__()
        norm = spectral_norm if use_spectral_norm else weight_norm
        w = _check_divisor(width_divisor)
        layers = [  # (in, out, kernel, stride, groups)
            (1, 128, 15, 1, 1), (128, 128, 41, 2, 4), (128, 256, 41, 2, 16),
            (256, 512, 41, 4, 16), (512, 1024, 41, 4, 16), (1024, 1024, 41, 1, 16),
            (1024, 1024, 5, 1, 1)]
        self.convs = nn.ModuleList(
            norm(nn.Conv1d(max(cin // w, 1), cout // w, k, s, groups=g, padding=_pad(k)))
            for cin, cout, k, s, g in layers)
        self.conv_post = norm(nn.Conv1d(1024 // w, 1, 3, 1, padding=1))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """``(batch, 1, samples)`` -> scores ``(batch, n)`` and 8 feature maps."""
        fmaps = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            fmaps.append(x)
        x = self.conv_post(x)
        fmaps.append(x)
        return torch.flatten(x, 1, -1), fmaps


class MultiPeriodDiscriminator(nn.Module):
    """MPD: one :class:`PeriodDiscriminator` per period (published: 2, 3, 5, 7, 11)."""

    def __init__(self, periods: Sequence[int] = PERIODS, width_divisor: int = 1) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            PeriodDiscriminator(p, width_divisor=width_divisor) for p in periods)

    def forward(self, x: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        """``(batch, 1, samples)`` -> per period: scores and feature maps."""
        outs = [d(x) for d in self.discriminators]
        return [s for s, _ in outs], [f for _, f in outs]


class MultiScaleDiscriminator(nn.Module):
    """MSD: three :class:`ScaleDiscriminator`, the first spectral-normed, on the waveform
    average-pooled (kernel 4, stride 2, padding 2) zero, one and two times."""

    def __init__(self, width_divisor: int = 1) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList([
            ScaleDiscriminator(use_spectral_norm=True, width_divisor=width_divisor),
            ScaleDiscriminator(width_divisor=width_divisor),
            ScaleDiscriminator(width_divisor=width_divisor)])
        self.meanpools = nn.ModuleList([nn.AvgPool1d(4, 2, padding=2), nn.AvgPool1d(4, 2, padding=2)])

    def inputs(self, x: Tensor) -> list[Tensor]:
        """The waveform at each scale: ``x``, pooled once, pooled twice."""
        out = [x]
        for pool in self.meanpools:
            out.append(pool(out[-1]))
        return out

    def forward(self, x: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        """``(batch, 1, samples)`` -> per scale: scores and feature maps."""
        outs = [d(xi) for d, xi in zip(self.discriminators, self.inputs(x))]
        return [s for s, _ in outs], [f for _, f in outs]


@dataclass
class DiscriminatorOutput:
    """Outputs of all sub-discriminators (5 periods, then 3 scales), real and generated.

    ``real_scores[i]`` / ``fake_scores[i]`` are ``(batch, n_i)``; ``real_fmaps[i]`` /
    ``fake_fmaps[i]`` are the lists of feature maps of sub-discriminator ``i``.
    """

    real_scores: list[Tensor]
    fake_scores: list[Tensor]
    real_fmaps: list[list[Tensor]]
    fake_fmaps: list[list[Tensor]]

    def add(self, real_score: Tensor, fake_score: Tensor, real_fmaps: list[Tensor],
            fake_fmaps: list[Tensor]) -> None:
        self.real_scores.append(real_score)
        self.fake_scores.append(fake_score)
        self.real_fmaps.append(real_fmaps)
        self.fake_fmaps.append(fake_fmaps)


def _uses_spectral_norm(d: nn.Module) -> bool:
    conv = d.conv_post
    return (parametrize.is_parametrized(conv, "weight")
            and isinstance(conv.parametrizations.weight[0], PublishedSpectralNorm))


class HiFiGANDiscriminator(nn.Module):
    """Both discriminators, ``mpd`` and ``msd``, run as one module for training.

    Args:
        periods: the MPD's periods.
        width_divisor: 1 (default) builds the published discriminators (70.7 M parameters);
            2, 4 or 8 divide every channel count by it (for tests and quick experiments; such
            discriminators do not load published ``do_`` files).
    """

    def __init__(self, periods: Sequence[int] = PERIODS, width_divisor: int = 1) -> None:
        super().__init__()
        self.mpd = MultiPeriodDiscriminator(periods, width_divisor)
        self.msd = MultiScaleDiscriminator(width_divisor)

    @classmethod
    def from_config(cls, config: HiFiGANConfig) -> "HiFiGANDiscriminator":
        """Published discriminators, or narrower ones if the config has the (non-published)
        key ``discriminator_width_divisor``."""
        value = config.extra.get(WIDTH_KEY, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value not in _DIVISORS:
            raise ConfigError(f"config: '{WIDTH_KEY}' must be one of {list(_DIVISORS)}, "
                              f"got {value!r}")
        return cls(width_divisor=value)

    def _inputs(self, x: Tensor) -> list[tuple[nn.Module, Tensor]]:
        """(sub-discriminator, its input) in output order: 5 periods, then 3 scales."""
        pairs = [(d, x) for d in self.mpd.discriminators]
        pairs += list(zip(self.msd.discriminators, self.msd.inputs(x)))
        return pairs

    def forward(self, real: Tensor, fake: Tensor, real_grad: bool = True) -> DiscriminatorOutput:
        """Score real and generated waveforms, both ``(batch, 1, samples)``.

        With ``real_grad=True`` (discriminator update) the results are those of the published
        two-pass code: each weight-normed sub-discriminator sees ``cat([real, fake])`` once;
        a spectral-normed one (in training mode) sees real, then fake, so its power iteration
        runs twice, in the published order.

        With ``real_grad=False`` (generator update) real audio runs under ``no_grad``: its
        feature maps are constants of the generator loss, so the generator's gradients are
        unchanged and no graph is kept for it. Fake audio runs with autograd.
        """
        if real.shape != fake.shape:
            raise InputError(f"real and generated audio differ in shape: {tuple(real.shape)} vs "
                             f"{tuple(fake.shape)}")
        out = DiscriminatorOutput([], [], [], [])
        if not real_grad:
            with torch.no_grad():
                real_outs = [d(x) for d, x in self._inputs(real)]
            fake_outs = [d(x) for d, x in self._inputs(fake)]
            for (sr, fr), (sf, ff) in zip(real_outs, fake_outs):
                out.add(sr, sf, fr, ff)
            return out
        b = real.shape[0]
        for d, x in self._inputs(torch.cat([real, fake])):
            if self.training and _uses_spectral_norm(d):
                (sr, fr), (sf, ff) = d(x[:b]), d(x[b:])
            else:
                s, f = d(x)
                sr, sf, fr, ff = s[:b], s[b:], [m[:b] for m in f], [m[b:] for m in f]
            out.add(sr, sf, fr, ff)
        return out


# ----------------------------------------------------------------------- checkpoint names

# PyTorch 2 spectral-norm names -> the PyTorch 1.x names published do_ files use.
_SN_OLD = {"parametrizations.weight.original": "weight_orig",
           "parametrizations.weight.0._u": "weight_u",
           "parametrizations.weight.0._v": "weight_v"}


def _spectral_prefixes(module: nn.Module) -> set[str]:
    return {name + "." for name, m in module.named_modules()
            if isinstance(m, (nn.Conv1d, nn.Conv2d)) and parametrize.is_parametrized(m, "weight")
            and isinstance(m.parametrizations.weight[0], PublishedSpectralNorm)}


def published_state_dict(module: nn.Module) -> dict[str, Tensor]:
    """``module.state_dict()`` on the CPU with the PyTorch 1.x names the published
    ``do_XXXXXXXX`` files use (``weight_g``/``weight_v``; ``weight_orig``/``weight_u``/
    ``weight_v``)."""
    spectral = _spectral_prefixes(module)
    state = legacy_weight_norm_names({k: v.detach().cpu() for k, v in module.state_dict().items()})
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        for new, old in _SN_OLD.items():
            if key.endswith("." + new) and key[: -len(new)] in spectral:
                key = key[: -len(new)] + old
                break
        out[key] = value
    return out


def current_names(module: nn.Module, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename a published (PyTorch 1.x) or current state dict to ``module``'s own names.

    A module's spectral-normed convolutions take ``weight_orig``/``weight_u``/``weight_v``
    (or PyTorch 2's ``parametrizations.weight.original`` / ``.0._u`` / ``.0._v``); its
    weight-normed ones take ``weight_g``/``weight_v``.
    """
    spectral = _spectral_prefixes(module)
    sn_back = {v: k for k, v in _SN_OLD.items()}
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        stem, _, leaf = key.rpartition(".")
        if stem + "." in spectral and leaf in sn_back:
            key = f"{stem}.{sn_back[leaf]}"
        out[key] = value
    return current_weight_norm_names(out, expected=module.state_dict().keys())


def load_discriminator_state(module: nn.Module, state: Mapping[str, Tensor], source: str) -> None:
    """Load ``state`` (published or current names) into ``module``, checking every shape.

    Raises:
        InputError: a missing, unexpected or wrongly shaped parameter; the message names it
            and ``source``.
    """
    if not isinstance(state, Mapping):
        raise InputError(f"{source}: expected a state dict, got {type(state).__name__}")
    renamed = current_names(module, {str(k): v for k, v in state.items()})
    expected = module.state_dict()
    missing = [k for k in expected if k not in renamed]
    if missing:
        raise InputError(f"{source}: parameter '{missing[0]}' missing (and {len(missing) - 1} "
                         "more); not a HiFi-GAN discriminator of the published shape")
    extra = [k for k in renamed if k not in expected]
    if extra:
        raise InputError(f"{source}: unexpected parameter '{extra[0]}' (and {len(extra) - 1} more)")
    for key, want in expected.items():
        got = renamed[key]
        if not isinstance(got, Tensor) or tuple(got.shape) != tuple(want.shape):
            shape = tuple(got.shape) if isinstance(got, Tensor) else type(got).__name__
            raise InputError(f"{source}: parameter '{key}' has shape {shape}, expected "
                             f"{tuple(want.shape)}")
    module.load_state_dict(renamed)


__all__ = ["DiscriminatorOutput", "HiFiGANDiscriminator", "MultiPeriodDiscriminator",
           "MultiScaleDiscriminator", "PeriodDiscriminator", "PublishedSpectralNorm", "WIDTH_KEY",
           "ScaleDiscriminator", "current_names", "load_discriminator_state",
           "published_state_dict", "spectral_norm"]
