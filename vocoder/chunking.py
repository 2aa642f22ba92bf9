"""Vocoding frame sequences of any lengths in chunks and padded batches, with the output of one
whole sequence at a time: the one chunked-vocoding function every caller uses
(:class:`vocoder.inference.Vocoder` for long inputs, kNN-VC, batch synthesis).

A HiFi-GAN generator is a stack of convolutions, so output sample ``n`` depends only on input
frames within its *receptive field*: ``R`` frames either side of frame ``n // hop``
(:func:`vocoder.generator.receptive_field_frames` gives a safe bound: 12 for V3, 15 for V1 and
V2, 13 for the kNN-VC vocoder). A vocoder's ``context_frames`` is at least that.

Long sequences are cut into chunks of ``chunk_frames`` with ``context`` real frames on each
side (dropped from the output); the joined chunks equal the whole sequence vocoded at once,
which bounds memory for any length.

Sequences of different lengths can share a batch only if what follows the shorter ones is
the same alone and batched. Two modes:

- ``pad_value=None`` (exact): nothing is padded. Only pieces of equal length share a batch
  (the chunks of one long sequence, or equal-length inputs), so every output equals the
  generator run on the whole, unpadded sequence: the published inference.
- ``pad_value=<float>`` (batched): every sequence, alone or batched, is followed by at least
  ``context`` frames of ``pad_value`` and its output is cut back to ``frames * hop`` samples,
  so any batch gives the same samples as vocoding it alone with that padding. For log-mels the
  pad is :data:`LOG_FLOOR` (``log(1e-5)``, the frontend's value for silence; a zero in
  log-mel is a loud frame). The last ``context`` frames then differ from the unpadded output
  by the (small) effect of silence instead of zeros after the end.

What is left is floating-point: a batched convolution may sum in another order; the tests
bound the difference (float32, CPU) well below half a 16-bit step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor

from .errors import InputError


LOG_FLOOR = math.log(1e-5)


@dataclass(frozen=True)
class _Piece:
    """A window of one sequence to vocode; keeps frames ``[keep_from, keep_from + keep)``."""

    index: int       # which input sequence
    order: int       # position of this chunk within the sequence
    start: int       # first frame of the window in the sequence
    stop: int        # end of the window (exclusive)
    keep_from: int   # offset in the window of the first kept frame
    keep: int        # number of kept frames

    @property
    def length(self) -> int:
        return self.stop - self.start


def plan_pieces(lengths: Sequence[int], chunk_frames: int, context: int) -> list[_Piece]:
    """Cut sequences longer than ``chunk_frames`` into chunks with ``context`` frames each side."""
    if chunk_frames < 1:
        raise InputError(f"chunk_frames must be at least 1, got {chunk_frames}")
    pieces = []
    for index, n in enumerate(lengths):
        if n <= chunk_frames:
            pieces.append(_Piece(index, 0, 0, n, 0, n))
            continue
        for order, a in enumerate(range(0, n, chunk_frames)):
            b = min(a + chunk_frames, n)
            start, stop = max(0, a - context), min(n, b + context)
            pieces.append(_Piece(index, order, start, stop, a - start, b - a))
    return pieces


def group_by_length(lengths: Sequence[int], max_batch_frames: int, max_batch_size: int,
                    pad: int = 0) -> list[list[int]]:
    """Indices grouped into batches of similar length, shortest first.

    A batch costs ``size * (longest + pad)`` padded frames; it grows while that stays within
    ``max_batch_frames`` and it has at most ``max_batch_size`` members (a single sequence
    longer than the budget still gets a batch of its own).
    """
    if max_batch_size < 1:
        raise InputError(f"max_batch_size must be at least 1, got {max_batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    groups: list[list[int]] = []
    current: list[int] = []
    for i in order:
        longest = lengths[i] + pad  # sorted, so the newcomer is the longest
        if current and (len(current) >= max_batch_size
                        or (len(current) + 1) * longest > max_batch_frames):
            groups.append(current)
            current = []
        current.append(i)
    if current:
        groups.append(current)
    return groups


def vocode_batched(run: Callable[[Tensor], Tensor], frames: Sequence[Tensor], *,
                   hop: int, context: int, pad_value: float | None = LOG_FLOOR,
                   chunk_frames: int = 2000, max_batch_frames: int = 4000,
                   max_batch_size: int = 64, device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32) -> list[Tensor]:
    """Vocode sequences ``(channels, T_i)`` in chunks and batches; returns float32
    ``(T_i * hop,)`` tensors on the device the vocoder returns them on.

    Args:
        run: the vocoder: ``(batch, channels, T) -> (batch, T * hop)``.
        frames: the sequences (any device; all with the same channel count).
        hop: output samples per frame.
        context: frames of padding/context each side (at least the receptive field for
            results that do not depend on chunking or batching; see the module docstring).
        pad_value: what padding frames hold (the log-mel floor for mel vocoders), or
            ``None``: no padding, only equal-length pieces share a batch (exact).
        chunk_frames: longer sequences are vocoded in chunks of this many frames.
        max_batch_frames: padded frames per vocoder call (memory bound).
        max_batch_size: sequences per vocoder call.
        device, dtype: where and in what the padded batch is built.
    """
    if not frames:
        return []
    channels = {int(f.shape[0]) for f in frames}
    if len(channels) != 1 or any(f.dim() != 2 for f in frames):
        raise InputError("all sequences must be (channels, frames) with one channel count, got "
                         + ", ".join(str(tuple(f.shape)) for f in frames[:4]))
    (num_channels,) = channels
    pieces = plan_pieces([int(f.shape[1]) for f in frames], chunk_frames, context)
    lengths = [p.length for p in pieces]
    if pad_value is None:  # exact: batch only pieces of one length, pad nothing
        groups, pad = [], 0
        for n in sorted(set(lengths)):
            same = [j for j, m in enumerate(lengths) if m == n]
            groups += [[same[i] for i in g]
                       for g in group_by_length([n] * len(same), max_batch_frames, max_batch_size)]
    else:
        groups = group_by_length(lengths, max_batch_frames, max_batch_size, pad=context)
        pad = context
    outputs: dict[tuple[int, int], Tensor] = {}
    for group in groups:
        members = [pieces[i] for i in group]
        width = max(p.length for p in members) + pad
        batch = torch.full((len(members), num_channels, width),
                           0.0 if pad_value is None else pad_value, dtype=dtype, device=device)
        for row, p in enumerate(members):
            batch[row, :, :p.length] = frames[p.index][:, p.start:p.stop].to(device, dtype)
        wav = run(batch).float()
        for row, p in enumerate(members):
            a = p.keep_from * hop
            outputs[(p.index, p.order)] = wav[row, a:a + p.keep * hop]
    result = []
    for index in range(len(frames)):
        parts = []
        order = 0
        while (index, order) in outputs:
            parts.append(outputs[(index, order)])
            order += 1
        result.append(parts[0] if len(parts) == 1 else torch.cat(parts))
    return result
