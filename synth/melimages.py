"""Mel spectrograms as pictures: any audio's 80-band mel, and a log-mel as an RGB image.

For showing speech in the web app (or a notebook): :func:`display_mel` computes one mel of
any audio with fixed display settings, whatever vocoder made it; :func:`mel_image` paints a
log-mel with low frequencies at the bottom; :func:`mel_range` gives two mels one colour
range, so they can be compared side by side; :func:`speech_image` paints an acoustic
model's mel with its attention alignment below it, on one time axis.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from vocoder.config import AudioConfig
from vocoder.mel import MelSpectrogram

# Colour map anchors (dark purple -> orange -> pale yellow), interpolated linearly.
_ANCHORS = np.array([[0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122],
                     [229, 80, 100], [251, 135, 97], [254, 194, 135], [252, 253, 191]],
                    dtype=np.float32)


def mel_image(mel: np.ndarray | torch.Tensor, value_range: tuple[float, float] | None = None,
              max_width: int = 1600, min_width: int = 800, height: int = 160) -> np.ndarray:
    """A log-mel ``(num_mels, frames)`` as an RGB image ``(height', width, 3)`` uint8, low
    frequencies at the bottom. Values map linearly from ``value_range`` (default: the top
    10 nats, about 87 dB, of this mel) onto the colour map. More than ``max_width`` frames
    are averaged down; fewer than ``min_width`` are repeated a whole number of times (width
    ``frames * (min_width // frames)``), so short clips still make a wide picture; each band
    is ``height // num_mels`` pixels tall."""
    m = mel.detach().float().cpu().numpy() if isinstance(mel, torch.Tensor) else np.asarray(mel)
    m = np.asarray(m, dtype=np.float32).reshape(m.shape[-2], m.shape[-1])
    frames = m.shape[1]
    if frames > max_width:
        step = math.ceil(frames / max_width)
        pad = (-frames) % step
        m = np.pad(m, ((0, 0), (0, pad)), mode="edge").reshape(m.shape[0], -1, step).mean(axis=2)
    lo, hi = value_range if value_range is not None else mel_range(m)
    x = np.clip((m[::-1] - lo) / max(hi - lo, 1e-6), 0.0, 1.0) * (len(_ANCHORS) - 1)
    i = np.minimum(x.astype(np.int64), len(_ANCHORS) - 2)
    t = (x - i)[..., None]
    rgb = _ANCHORS[i] * (1 - t) + _ANCHORS[i + 1] * t
    rows = max(1, height // m.shape[0])
    cols = max(1, min_width // m.shape[1])
    return np.repeat(np.repeat(rgb, rows, axis=0), cols, axis=1).round().astype(np.uint8)


def speech_image(mel: np.ndarray | torch.Tensor,
                 alignments: Sequence[np.ndarray | torch.Tensor], starts: Sequence[int],
                 max_width: int = 1600, min_width: int = 800, height: int = 160,
                 alignment_rows: int = 48, alignment_height: int = 96) -> np.ndarray:
    """An acoustic model's log-mel ``(num_mels, frames)`` above its attention alignment, as
    one RGB image ``(height', width, 3)`` uint8 (the mel as :func:`mel_image` paints it).

    Sentence ``i``'s alignment ``(frames_i, tokens_i)`` (which input token each frame
    attended to) is placed from frame ``starts[i]``, its tokens stretched over
    ``alignment_rows`` rows, the first token at the bottom: read well, each sentence is a
    line rising from its start. Each sentence's weights are scaled to its own strongest one
    (a trained model's is near 1; an untrained model's attention is spread thin). Pauses
    between sentences stay dark; a grey line marks where each sentence after the first
    starts.
    """
    m = mel.detach().float().cpu().numpy() if isinstance(mel, torch.Tensor) else np.asarray(mel)
    m = np.asarray(m, dtype=np.float32).reshape(m.shape[-2], m.shape[-1])
    frames = m.shape[1]
    canvas = np.zeros((alignment_rows, frames), dtype=np.float32)
    for weights, start in zip(alignments, starts):
        a = weights.detach().float().cpu().numpy() if isinstance(weights, torch.Tensor) \
            else np.asarray(weights, dtype=np.float32)
        length = min(a.shape[0], frames - start)
        if length <= 0 or a.shape[1] == 0:
            continue
        rows = _token_rows(a[:length], alignment_rows).T
        canvas[:, start:start + length] = rows / max(float(rows.max()), 1e-6)
    top = mel_image(m, max_width=max_width, min_width=min_width, height=height)
    bottom = mel_image(canvas, value_range=(0.0, 1.0),
                       max_width=max_width, min_width=min_width, height=alignment_height)
    scale = top.shape[1] / frames  # both panels share the time axis
    for start in list(starts)[1:]:
        x = min(int(start * scale), bottom.shape[1] - 1)
        bottom[:, x] = (128, 128, 128)
    gap = np.full((4, top.shape[1], 3), 255, dtype=np.uint8)
    return np.concatenate([top, gap, bottom], axis=0)


def _token_rows(weights: np.ndarray, rows: int) -> np.ndarray:
    """``(frames, tokens)`` -> ``(frames, rows)``: the strongest weight of the tokens in each
    row (more tokens than rows), or each row's nearest token (fewer)."""
    tokens = weights.shape[1]
    if tokens >= rows:
        edges = (np.arange(rows) * tokens) // rows
        return np.maximum.reduceat(weights, edges, axis=1)
    return weights[:, (np.arange(rows) * tokens) // rows]


def mel_range(*mels: np.ndarray | torch.Tensor) -> tuple[float, float]:
    """A shared colour range for comparing mels: from 10 below the highest value to it."""
    hi = max(float(np.max(np.asarray(m.detach().cpu() if isinstance(m, torch.Tensor) else m)))
             for m in mels)
    return hi - 10.0, hi


def display_mel(wav: np.ndarray, sample_rate: int) -> torch.Tensor:
    """An 80-band log-mel of any audio for display (n_fft 1024, hop 256, up to 8 kHz)."""
    config = AudioConfig(sampling_rate=sample_rate, n_fft=1024, hop_size=256, win_size=1024,
                         num_mels=80, fmin=0.0, fmax=min(8000.0, sample_rate / 2))
    with torch.inference_mode():
        return MelSpectrogram(config)(torch.from_numpy(np.ascontiguousarray(wav, np.float32)))


__all__ = ["display_mel", "mel_image", "mel_range", "speech_image"]
