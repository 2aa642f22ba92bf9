"""Synth-side audio helpers: mono downmix, resampling of tensors, loudness (ITU-R BS.1770-4).

Files are read and written only through :mod:`vocoder.audio` (:func:`load_audio`,
:func:`save_wav`); this module adds what the synthesis pipelines need on top of it.

Loudness is measured with `pyloudnorm <https://github.com/csteinmetz1/pyloudnorm>`_, a
reference implementation of ITU-R BS.1770-4 integrated loudness: K-weighting, 400 ms blocks
with 75 % overlap, an absolute gate at -70 LUFS and a relative gate 10 LU below the
ungated mean. kNN-VC normalises its output the same way (to -16 LUFS).
"""

from __future__ import annotations

import math
import os
from typing import Union

import numpy as np
import torch
from torch import Tensor

from vocoder.audio import load_audio, resample

ArrayLike = Union[np.ndarray, Tensor]

LOUDNESS_BLOCK_SECONDS = 0.4  # BS.1770 gating block


def load_mono(path: str | os.PathLike, sample_rate: int) -> Tensor:
    """Read an audio file as a mono float32 tensor ``(samples,)`` at ``sample_rate`` Hz.

    Channels are averaged and the audio is resampled (soxr, high quality) when the file's
    rate differs. Errors name the file (:class:`vocoder.audio.AudioError`).
    """
    wav, _ = load_audio(path, sample_rate=sample_rate)
    return torch.from_numpy(wav)


def to_mono(wav: Tensor, channel_dim: int = -2) -> Tensor:
    """Average the channels of ``(..., channels, samples)`` audio: ``(..., samples)``."""
    return wav.mean(dim=channel_dim)


def resample_tensor(wav: Tensor, orig_sr: int, target_sr: int) -> Tensor:
    """Resample ``(..., samples)`` float audio from ``orig_sr`` to ``target_sr`` Hz.

    Uses the same resampler as :func:`vocoder.audio.load_audio` (soxr, high quality), so a
    file and an in-memory waveform give the same samples. The output has
    ``ceil(samples * target_sr / orig_sr)`` samples and keeps the input's device and dtype.
    """
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr:
        return wav
    out = resample(wav.detach().cpu().float().numpy(), orig_sr, target_sr)
    return torch.from_numpy(np.ascontiguousarray(out)).to(device=wav.device, dtype=wav.dtype)


def _as_numpy(wav: ArrayLike) -> np.ndarray:
    if isinstance(wav, Tensor):
        wav = wav.detach().cpu().numpy()
    wav = np.asarray(wav)
    if wav.ndim != 1:
        raise ValueError(f"expected mono audio of shape (samples,), got shape {wav.shape}")
    return wav


def integrated_loudness(wav: ArrayLike, sample_rate: int) -> float:
    """Integrated loudness of mono audio ``(samples,)`` in [-1, 1], in LUFS (ITU-R BS.1770-4).

    Returns ``-inf`` for silence (every 400 ms block below the -70 LUFS gate).

    Raises:
        ValueError: audio not longer than one 400 ms block, or not mono.
    """
    import pyloudnorm  # imported here: a runtime dependency only the loudness helpers need

    data = _as_numpy(wav).astype(np.float64)
    if data.shape[0] <= LOUDNESS_BLOCK_SECONDS * sample_rate:
        raise ValueError(f"loudness needs more than {LOUDNESS_BLOCK_SECONDS} s of audio, got "
                         f"{data.shape[0]} samples at {sample_rate} Hz")
    with np.errstate(divide="ignore"):
        return float(pyloudnorm.Meter(sample_rate).integrated_loudness(data))


def normalize_loudness(wav: ArrayLike, sample_rate: int, target_lufs: float = -16.0) -> np.ndarray:
    """Scale mono audio ``(samples,)`` so its integrated loudness is ``target_lufs`` LUFS.

    Returns float32 ``(samples,)``. Audio that cannot be measured (silence, or not longer than
    one 400 ms block) is returned unchanged. The gain is not limited: samples may exceed
    [-1, 1] (as in kNN-VC); :func:`vocoder.audio.save_wav` clips when writing.
    """
    data = _as_numpy(wav).astype(np.float32)
    if data.shape[0] <= LOUDNESS_BLOCK_SECONDS * sample_rate:
        return data
    current = integrated_loudness(data, sample_rate)
    if not math.isfinite(current):
        return data
    return (data * np.float32(10.0 ** ((target_lufs - current) / 20.0))).astype(np.float32)
