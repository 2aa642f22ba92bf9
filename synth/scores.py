"""Objective scores of a resynthesis against its original, as a table for people.

The measures of ``vocoder eval`` (:func:`vocoder.evaluate.score`): mel L1 and multi-resolution
STFT distance (lower is better), wideband PESQ and STOI (higher is better), each row with
which way is better and what it measures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vocoder.config import AudioConfig
from vocoder.evaluate import score

SCORE_HEADERS = ["score", "value", "better", "what it measures"]
_SCORE_ROWS = [
    ("mel_l1", "mel L1", "lower (0 = same)", "mean |difference| of the 80-band log-mels"),
    ("mrstft", "MR-STFT", "lower (0 = same)",
     "multi-resolution STFT distance (spectral convergence + log magnitude)"),
    ("pesq_wb", "PESQ (wideband)", "higher (max 4.64)", "perceived quality, ITU-T P.862.2"),
    ("stoi", "STOI", "higher (max 1)", "short-time objective intelligibility"),
]


def score_pair(reference: np.ndarray, degraded: np.ndarray, sample_rate: int
               ) -> tuple[list[list[Any]], list[str]]:
    """Objective scores of ``degraded`` against ``reference`` (mono ``(samples,)`` at
    ``sample_rate``, cut to the shorter), as table rows (see :data:`SCORE_HEADERS`; a score
    that cannot be computed shows ``-``) and notes on why."""
    config = AudioConfig(sampling_rate=sample_rate, n_fft=1024, hop_size=256, win_size=1024,
                         num_mels=80, fmin=0.0, fmax=min(8000.0, sample_rate / 2),
                         fmax_for_loss=None)
    n = min(len(reference), len(degraded))
    scores = score(reference[:n], degraded[:n], sample_rate, config, "resynthesis")
    rows = [[label, "-" if getattr(scores, key) is None else round(float(getattr(scores, key)), 4),
             better, what] for key, label, better, what in _SCORE_ROWS]
    return rows, [scores.notes] if scores.notes else []


__all__ = ["SCORE_HEADERS", "score_pair"]
