"""Vocoding many frame sequences of different lengths in padded batches, with the same output as
one at a time.

A HiFi-GAN generator is a stack of convolutions, so output sample ``n`` depends only on input
frames within its *receptive field*: ``R`` frames either side of frame ``n // hop``
(:func:`vocoder.generator.receptive_field_frames` gives a safe bound: 12 for V3, 15 for V1 and
V2, 13 for the kNN-VC vocoder; perturbing one input frame of those generators changes output
samples up to 11, 13, 13 and 11 frames away). :class:`vocoder.inference.Vocoder` keeps one
frame more as its ``context_frames``. Two things can make a padded batch
differ from one-by-one vocoding, and both are kept more than ``R`` frames away from any kept
output sample:

- *Right edge.* A sequence shorter than its batch neighbours would see their padding where,
  alone, it would see the convolutions' zero padding. So every sequence, alone or batched, is
  followed by at least ``R`` frames of the log-mel floor (``log(1e-5)``, the frontend's value
  for silence) and its output is cut back to ``frames * hop`` samples. Alone and in any batch,
  the kept samples then see exactly the same inputs. (The floor is also the right thing to
  pad with: a zero in log-mel is a loud frame, not silence.)
- *Left edge.* Sequences start at frame 0 of the batch, so they see the same zero padding
  alone and batched.

Long sequences are cut into chunks of ``chunk_frames`` with ``R`` real frames of context on
each side (dropped from the output), which bounds memory and lets the chunks share batches;
the joined chunks equal the whole sequence vocoded at once for the same reason.

What is left is floating-point: a batched convolution may sum in another order; the tests
bound the difference (float32, CPU) well below half a 16-bit step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor


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
        raise ValueError(f"chunk_frames must be at least 1, got {chunk_frames}")
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
        raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
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
                   hop: int, context: int, pad_value: float = LOG_FLOOR,
                   chunk_frames: int = 2000, max_batch_frames: int = 4000,
                   max_batch_size: int = 64, device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32) -> list[np.ndarray]:
    """Vocode sequences ``(channels, T_i)`` in padded batches; returns float32 ``(T_i * hop,)``.

    Args:
        run: the vocoder: ``(batch, channels, T) -> (batch, T * hop)``.
        frames: the sequences (any device; all with the same channel count).
        hop: output samples per frame.
        context: frames of padding/context each side (at least the receptive field for
            results that do not depend on batching; see the module docstring).
        pad_value: what padding frames hold (the log-mel floor for mel vocoders).
        chunk_frames: longer sequences are vocoded in chunks of this many frames.
        max_batch_frames: padded frames per vocoder call (memory bound).
        max_batch_size: sequences per vocoder call.
        device, dtype: where and in what the padded batch is built.
    """
    if not frames:
        return []
    channels = {int(f.shape[0]) for f in frames}
    if len(channels) != 1 or any(f.dim() != 2 for f in frames):
        raise ValueError("all sequences must be (channels, frames) with one channel count, got "
                         + ", ".join(str(tuple(f.shape)) for f in frames[:4]))
    (num_channels,) = channels
    pieces = plan_pieces([int(f.shape[1]) for f in frames], chunk_frames, context)
    outputs: dict[tuple[int, int], np.ndarray] = {}
    for group in group_by_length([p.length for p in pieces], max_batch_frames, max_batch_size,
                                 pad=context):
        members = [pieces[i] for i in group]
        width = max(p.length for p in members) + context
        batch = torch.full((len(members), num_channels, width), pad_value, dtype=dtype,
                           device=device)
        for row, p in enumerate(members):
            batch[row, :, :p.length] = frames[p.index][:, p.start:p.stop].to(device, dtype)
        wav = run(batch).float().cpu().numpy()
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
        result.append(np.ascontiguousarray(np.concatenate(parts), dtype=np.float32))
    return result
