"""What every SSL feature extractor offers, and the windowed, batched extraction they share.

:class:`FeatureExtractor` is the interface the rest of ``synth`` uses (matching sets, feature
files, prematching, conversion): a name, the frame grid, and ``extract``/``extract_list``/
``extract_file`` returning the output of one transformer layer as float32 ``(frames, dim)``.

:class:`WindowedExtractor` implements everything of that interface that does not depend on
the model library: input checks, resampling, per-utterance waveform normalisation, cutting
long audio into windows with context, batching windows of several utterances, and the
whole-utterance statistics of a group-norm front end. A backend (``synth.features`` for
torchaudio's models, ``synth.hf_features`` for Hugging Face ``transformers`` models) supplies
one padded forward pass, ``_forward``. The settings (:class:`ExtractorConfig`) and the error
type (:class:`FeatureError`) of both live here too.

Frames
    A front end of convolutions with kernels ``k_i`` and strides ``s_i`` gives
    ``n -> (n - k) // s + 1`` frames layer by layer (:meth:`WindowedExtractor.num_frames`); for
    the wav2vec 2.0 family at 16 kHz that is ``(samples - 400) // 320 + 1``, 50 per second,
    frame ``i`` covering samples ``[320 i, 320 i + 400)``.

Windows
    Audio of more than ``chunk_seconds + 2 * context_seconds`` is cut into windows of about
    ``chunk_seconds`` with ``context_seconds`` of extra audio on each side; only the centre
    frames of each window are kept. Windows start on a multiple of the hop, so the front end is
    exact; a group norm over time (Base models) uses statistics of the whole utterance,
    computed in a separate pass. Windows are batched up to ``batch_seconds`` of audio.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, Sequence, runtime_checkable

import numpy as np
import torch
from torch import Tensor, nn

from vocoder.errors import InputError

from .audio import load_mono, resample_tensor

#: The rate the wav2vec 2.0 family is trained at (Hz).
SAMPLE_RATE = 16000


class FeatureError(InputError):
    """A model, weights file or input that a feature extractor cannot use."""


@dataclass
class ExtractorConfig:
    """How a feature extractor feeds audio to its model.

    Attributes:
        sample_rate: rate the model was trained at (Hz); inputs at other rates are resampled.
        normalize_waveform: scale each utterance to zero mean, unit variance first (what the
            ``*_LARGE``/XLSR torchaudio bundles and some Hugging Face processors do). kNN-VC
            does not: keep ``False`` for it.
        chunk_seconds: centre part of each window that long audio is cut into (s).
        context_seconds: extra audio on each side of a window, dropped from the output (s).
        batch_seconds: most audio (s, padding included) in one forward pass; a single
            window longer than this still runs on its own.
    """

    sample_rate: int = SAMPLE_RATE
    normalize_waveform: bool = False
    chunk_seconds: float = 20.0
    context_seconds: float = 2.0
    batch_seconds: float = 48.0

    def validate(self) -> "ExtractorConfig":
        if self.sample_rate <= 0:
            raise FeatureError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.chunk_seconds <= 0:
            raise FeatureError(f"chunk_seconds must be positive, got {self.chunk_seconds}")
        if self.context_seconds < 0:
            raise FeatureError(f"context_seconds must be >= 0, got {self.context_seconds}")
        if self.batch_seconds <= 0:
            raise FeatureError(f"batch_seconds must be positive, got {self.batch_seconds}")
        return self


@runtime_checkable
class FeatureExtractor(Protocol):
    """A frozen SSL speech encoder that gives the output of one transformer layer.

    Implemented by :class:`synth.features.SSLFeatureExtractor` (torchaudio models) and
    :class:`synth.hf_features.HFFeatureExtractor` (Hugging Face models).

    Attributes:
        name: recorded in matching sets and feature files; sets made under another name are
            refused.
        dim: feature size.
        hop_length: samples per frame at :attr:`sample_rate` (320 at 16 kHz: 50 frames/s).
        receptive_field: samples one frame sees; shorter input gives no frame.
        num_layers: valid layers are ``1..num_layers``.
    """

    name: str
    dim: int
    hop_length: int
    receptive_field: int
    num_layers: int

    @property
    def sample_rate(self) -> int: ...

    @property
    def frame_rate(self) -> float: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def dtype(self) -> torch.dtype: ...

    def num_frames(self, num_samples: int | Tensor) -> int | Tensor: ...

    def extract(self, waveforms: Tensor | np.ndarray, lengths: Tensor | Sequence[int] | None,
                layer: int, *, sample_rate: int | None = None) -> tuple[Tensor, Tensor]: ...

    def extract_list(self, waveforms: Sequence[Tensor | np.ndarray], layer: int, *,
                     sample_rate: int | None = None) -> list[Tensor]: ...

    def extract_file(self, path: str | os.PathLike, layer: int) -> Tensor: ...

    def to(self, *args: Any, **kwargs: Any) -> "FeatureExtractor": ...


# ---------------------------------------------------------------------- group norm over time
def utterance_group_norm_stats(conv: nn.Conv1d, norm: nn.GroupNorm, wav: Tensor,
                               piece_frames: int = 65536) -> tuple[Tensor, Tensor]:
    """Mean and std ``(channels,)`` of ``conv(wav)`` over a whole utterance ``(samples,)``.

    Base models normalise the first convolution's output per channel over time (a GroupNorm
    with one group per channel); with these statistics windows and padded batches give what
    the whole, unpadded utterance gives. Computed in pieces of ``piece_frames`` frames,
    accumulated in float64; returned in ``wav``'s dtype.
    """
    k, s = int(conv.kernel_size[0]), int(conv.stride[0])
    frames = (wav.shape[0] - k) // s + 1
    total = torch.zeros(conv.out_channels, dtype=torch.float64, device=wav.device)
    squares = torch.zeros_like(total)
    for a in range(0, frames, piece_frames):
        b = min(a + piece_frames, frames)
        y = conv(wav[a * s:(b - 1) * s + k][None, None])[0].double()
        total += y.sum(dim=1)
        squares += (y * y).sum(dim=1)
    mean = total / frames
    var = (squares / frames - mean * mean).clamp_min(0.0)
    std = torch.sqrt(var + norm.eps)
    return mean.to(wav.dtype), std.to(wav.dtype)


def apply_group_norm(x: Tensor, stats: tuple[Tensor, Tensor], norm: nn.GroupNorm) -> Tensor:
    """``norm`` applied to ``(batch, channels, frames)`` with given per-item statistics.

    ``stats`` is ``(mean, std)``, each ``(batch, channels)``, from
    :func:`utterance_group_norm_stats`.
    """
    mean, std = stats
    x = (x - mean[..., None]) / std[..., None]
    return x * norm.weight[:, None] + norm.bias[:, None]


# ---------------------------------------------------------------------- windows
class Window(NamedTuple):
    """One forward-pass input: samples ``[start, end)`` of item ``item``; its frames
    ``[keep_from, keep_to)`` go to the item's frames from ``dest`` on."""

    item: int
    start: int
    end: int
    keep_from: int
    keep_to: int
    dest: int


def plan_windows(item: int, frames: int, samples: int, hop: int, field: int, chunk: int,
                 context: int) -> list[Window]:
    """Windows covering an utterance of ``frames`` frames (``samples`` samples).

    One window when ``frames <= chunk + 2 * context``; otherwise ``ceil(frames / chunk)``
    pieces of equal size, each with up to ``context`` frames of extra audio on both sides.
    """
    if frames <= chunk + 2 * context:
        return [Window(item, 0, samples, 0, frames, 0)]
    pieces = math.ceil(frames / chunk)
    size = math.ceil(frames / pieces)
    windows = []
    for a in range(0, frames, size):
        b = min(a + size, frames)
        wa, wb = max(0, a - context), min(frames, b + context)
        windows.append(Window(item, wa * hop, (wb - 1) * hop + field, a - wa, b - wa, a))
    return windows


class WindowedExtractor(nn.Module):
    """Base of the feature extractors: checks, windows, batches; subclasses run the model.

    A subclass calls ``super().__init__(name, config, conv_shapes, num_layers, dim)``, stores
    its model and implements :meth:`_forward` (and :meth:`_group_norm_parts` when its front end
    normalises over time). The model is frozen and always in eval mode.

    Args:
        name: what the features are called in matching sets.
        config: input handling and memory settings (:class:`ExtractorConfig`).
        conv_shapes: ``(kernel, stride)`` of each front-end convolution, in order.
        num_layers: transformer layers that can be extracted (``1..num_layers``).
        dim: feature size.
    """

    #: ``eps`` of the per-utterance waveform normalisation (``normalize_waveform``).
    waveform_norm_eps: float = 1e-5

    def __init__(self, name: str, config: ExtractorConfig | None,
                 conv_shapes: Sequence[tuple[int, int]], num_layers: int, dim: int) -> None:
        super().__init__()
        self.name = name
        self.config = (config or ExtractorConfig()).validate()
        self._kernels = [int(k) for k, _ in conv_shapes]
        self._strides = [int(s) for _, s in conv_shapes]
        self.hop_length = math.prod(self._strides)
        field = 1
        for k, s in zip(reversed(self._kernels), reversed(self._strides)):
            field = (field - 1) * s + k
        self.receptive_field = field
        self.num_layers = int(num_layers)
        self.dim = int(dim)

    # ------------------------------------------------------------------ backend hooks
    def _forward(self, wav: Tensor, lengths: Tensor, layer: int,
                 group_stats: tuple[Tensor, Tensor] | None) -> Tensor:
        """``(batch, samples)`` padded audio in the model's dtype and ``(batch,)`` valid
        samples -> ``(batch, frames, dim)`` output of ``layer``, where the valid frames of each
        item equal those of the item alone. ``group_stats`` is ``(mean, std)``, each
        ``(batch, channels)``, when :meth:`_group_norm_parts` is not ``None``."""
        raise NotImplementedError

    def _group_norm_parts(self) -> tuple[nn.Conv1d, nn.GroupNorm] | None:
        """The first convolution and its GroupNorm when the front end normalises over time."""
        return None

    # ------------------------------------------------------------------ facts
    def train(self, mode: bool = True) -> "WindowedExtractor":
        """The model always stays in eval mode (no dropout, no layer drop)."""
        return super().train(False)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_rate(self) -> float:
        """Frames per second (50.0 for 16 kHz models with a 320-sample hop)."""
        return self.sample_rate / self.hop_length

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def num_frames(self, num_samples: int | Tensor) -> int | Tensor:
        """Frames for ``num_samples`` samples at the model's rate (0 if too short)."""
        n = num_samples
        for k, s in zip(self._kernels, self._strides):
            n = (n - k) // s + 1
        if isinstance(n, Tensor):
            return n.clamp_min(0)
        return max(int(n), 0)

    def _check_layer(self, layer: int) -> int:
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) \
                or not 1 <= int(layer) <= self.num_layers:
            raise FeatureError(f"layer must be an integer in 1..{self.num_layers} (the output of "
                               f"that transformer layer, counting from 1) for {self.name}, "
                               f"got {layer!r}")
        return int(layer)

    # ------------------------------------------------------------------ public API
    def extract(self, waveforms: Tensor | np.ndarray, lengths: Tensor | Sequence[int] | None,
                layer: int, *, sample_rate: int | None = None) -> tuple[Tensor, Tensor]:
        """Features of transformer layer ``layer`` for a padded batch of audio.

        Args:
            waveforms: ``(batch, samples)``, ``(batch, channels, samples)`` (channels are
                averaged) or ``(samples,)``; float in [-1, 1].
            lengths: valid samples of each item ``(batch,)``; ``None`` means all samples.
            layer: transformer layer, ``1..num_layers``.
            sample_rate: rate of ``waveforms`` in Hz; resampled to :attr:`sample_rate` when it
                differs (lengths are rescaled). ``None`` means the model's rate.

        Returns:
            ``(features, frame_lengths)``: float32 ``(batch, frames, dim)`` on the model's
            device, zero beyond each item's length, and ``(batch,)`` int64 valid frames.
        """
        items = self._split_batch(waveforms, lengths)
        if not items:
            raise FeatureError("waveforms is an empty batch")
        feats = self.extract_list(items, layer, sample_rate=sample_rate)
        frame_lengths = torch.tensor([f.shape[0] for f in feats], dtype=torch.long)
        out = torch.zeros(len(feats), int(frame_lengths.max()), self.dim, device=self.device)
        for i, f in enumerate(feats):
            out[i, :f.shape[0]] = f
        return out, frame_lengths.to(self.device)

    def extract_list(self, waveforms: Sequence[Tensor | np.ndarray], layer: int, *,
                     sample_rate: int | None = None) -> list[Tensor]:
        """Features for a list of mono waveforms ``(samples,)`` of any lengths.

        Returns one float32 ``(frames_i, dim)`` tensor per waveform, on the model's device.
        Windows of all the waveforms are batched together (up to ``batch_seconds`` of audio
        per pass).
        """
        layer = self._check_layer(layer)
        rate = self.sample_rate if sample_rate is None else int(sample_rate)
        items = []
        for i, w in enumerate(waveforms):
            w = torch.as_tensor(w)
            if w.dim() != 1:
                raise FeatureError(f"waveform {i}: expected mono audio (samples,), got shape "
                                   f"{tuple(w.shape)}")
            if not torch.is_floating_point(w):
                raise FeatureError(f"waveform {i}: expected float samples in [-1, 1], got {w.dtype}")
            if rate != self.sample_rate:
                w = resample_tensor(w.float(), rate, self.sample_rate)
            if w.shape[0] < self.receptive_field:
                raise FeatureError(
                    f"waveform {i} has {w.shape[0]} samples at {self.sample_rate} Hz; {self.name} "
                    f"needs at least {self.receptive_field} "
                    f"({1000 * self.receptive_field / self.sample_rate:.1f} ms) for one frame")
            items.append(w)
        with torch.no_grad():
            return self._extract_items(items, layer)

    def extract_file(self, path: str | os.PathLike, layer: int) -> Tensor:
        """Features ``(frames, dim)`` of an audio file (mono downmix, resampled)."""
        return self.extract_list([load_mono(path, self.sample_rate)], layer)[0]

    # ------------------------------------------------------------------ internals
    def _split_batch(self, waveforms: Tensor | np.ndarray,
                     lengths: Tensor | Sequence[int] | None) -> list[Tensor]:
        x = torch.as_tensor(waveforms)
        if x.dim() == 1:
            x = x[None]
        elif x.dim() == 3:
            x = x.mean(dim=1)  # mono downmix
        elif x.dim() != 2:
            raise FeatureError("waveforms must be (batch, samples), (batch, channels, samples) or "
                               f"(samples,), got shape {tuple(x.shape)}")
        if lengths is None:
            return list(x)
        lengths = torch.as_tensor(lengths).reshape(-1)
        if lengths.shape[0] != x.shape[0]:
            raise FeatureError(f"lengths must have one entry per waveform ({x.shape[0]}), got "
                               f"{lengths.shape[0]}")
        out = []
        for i, (w, n) in enumerate(zip(x, lengths.tolist())):
            if not 0 < int(n) <= x.shape[1]:
                raise FeatureError(f"lengths[{i}] = {n} is outside 1..{x.shape[1]} (samples in "
                                   "the padded batch)")
            out.append(w[:int(n)])
        return out

    def _extract_items(self, items: list[Tensor], layer: int) -> list[Tensor]:
        device, dtype = self.device, self.dtype
        parts = self._group_norm_parts()
        prepared, stats = [], []
        for w in items:
            w = w.to(device=device, dtype=torch.float32)
            if self.config.normalize_waveform:
                w = nn.functional.layer_norm(w, w.shape, eps=self.waveform_norm_eps)
            w = w.to(dtype)
            prepared.append(w)
            stats.append(None if parts is None else utterance_group_norm_stats(*parts, w))

        chunk = max(1, round(self.config.chunk_seconds * self.frame_rate))
        context = round(self.config.context_seconds * self.frame_rate)
        windows = [win for i, w in enumerate(prepared)
                   for win in plan_windows(i, self.num_frames(w.shape[0]), w.shape[0],
                                           self.hop_length, self.receptive_field, chunk, context)]
        outputs = [torch.zeros(self.num_frames(w.shape[0]), self.dim, device=device)
                   for w in prepared]
        budget = self.config.batch_seconds * self.sample_rate
        group: list[Window] = []
        for win in windows:
            longest = max(w.end - w.start for w in group + [win])
            if group and longest * (len(group) + 1) > budget:
                self._run_group(group, prepared, stats, layer, outputs)
                group = []
            group.append(win)
        if group:
            self._run_group(group, prepared, stats, layer, outputs)
        return outputs

    def _run_group(self, group: list[Window], prepared: list[Tensor],
                   stats: list[tuple[Tensor, Tensor] | None], layer: int,
                   outputs: list[Tensor]) -> None:
        longest = max(w.end - w.start for w in group)
        batch = prepared[0].new_zeros(len(group), longest)
        lengths = torch.empty(len(group), dtype=torch.long)
        for j, w in enumerate(group):
            batch[j, :w.end - w.start] = prepared[w.item][w.start:w.end]
            lengths[j] = w.end - w.start
        group_stats = None
        if stats[0] is not None:
            group_stats = (torch.stack([stats[w.item][0] for w in group]),
                           torch.stack([stats[w.item][1] for w in group]))
        feats = self._forward(batch, lengths.to(batch.device), layer, group_stats)
        for j, w in enumerate(group):
            outputs[w.item][w.dest:w.dest + w.keep_to - w.keep_from] = \
                feats[j, w.keep_from:w.keep_to].float()
