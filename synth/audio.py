"""Audio in the synthesis pipelines: one normaliser for every input, silence trimming, loudness.

Files are read and written only through :mod:`vocoder.audio` (:func:`load_audio`,
:func:`save_wav`). On top of it:

- :func:`load_input_audio` turns whatever a caller has - a file path, a float or integer-PCM
  array or tensor, mono or a few channels, a ``(waveform, rate)`` pair or Gradio's
  ``(rate, waveform)`` - into mono float32 ``(samples,)`` at the rate asked for. The pipeline,
  kNN-VC, the feature extractors (through :func:`load_mono`) and the web app's uploads all go
  through it, so they accept and refuse the same things with the same messages.
- :func:`trim_silence` cuts silence at both ends: an energy VAD (reference clips), SoX's VAD
  (as the published kNN-VC), or a plain sample threshold (the espeak-ng base voice).
- :func:`integrated_loudness` / :func:`normalize_loudness`: ITU-R BS.1770-4 loudness with
  `pyloudnorm <https://github.com/csteinmetz1/pyloudnorm>`_, a reference implementation:
  K-weighting, 400 ms blocks with 75 % overlap, an absolute gate at -70 LUFS and a relative
  gate 10 LU below the ungated mean. kNN-VC normalises its output the same way (to -16 LUFS).
"""

from __future__ import annotations

import math
import os
from typing import Any, TypeVar, Union

import numpy as np
import torch
from torch import Tensor

from vocoder.audio import MAX_SECONDS, AudioError, check_rate, load_audio, resample

ArrayLike = Union[np.ndarray, Tensor]
#: What :func:`load_input_audio` takes.
AudioInput = Union[str, os.PathLike, np.ndarray, Tensor, tuple]
Wave = TypeVar("Wave", np.ndarray, Tensor)

LOUDNESS_BLOCK_SECONDS = 0.4  # BS.1770 gating block
MAX_CHANNELS = 8  # a 2-D array's channel axis is the one at most this long
TRIM_METHODS = ("energy", "sox", "threshold", "none")


# ------------------------------------------------------------------------------ inputs


def load_input_audio(audio: AudioInput, sample_rate: int | None = None, *,
                     target_rate: int | None = None, what: str = "audio",
                     max_seconds: float | None = MAX_SECONDS) -> tuple[np.ndarray, int]:
    """Any audio input as mono float32 ``(samples,)`` and its rate in Hz.

    Args:
        audio: a file path (any format :func:`vocoder.audio.load_audio` reads); an array or
            tensor with ``sample_rate``; or a tuple ``(waveform, sample_rate)`` (Gradio's
            ``(sample_rate, waveform)`` order works too). Float samples are taken as they
            are ([-1, 1]); integer PCM is scaled to [-1, 1] (int16 / 32768, int32 / 2**31,
            uint8 centred on 128). A 2-D array is ``(samples, channels)`` or
            ``(channels, samples)``, whichever axis is at most 8 long; channels are averaged.
        sample_rate: rate of an array or tensor given alone.
        target_rate: resample to this rate (soxr, high quality); ``None`` keeps the input's.
        what: how messages name the input (``"source"``, ``"reference 2"``, a file name).
        max_seconds: longest file read (checked from its header, before decoding); ``None``:
            no limit. A waveform given in memory is not limited.

    Returns:
        ``(audio, rate)``: float32 ``(samples,)`` and ``target_rate`` (or the input's rate).

    Raises:
        vocoder.audio.AudioError: unreadable file, no sample rate, a rate outside 4-192 kHz,
            samples that are not numbers or not finite, more than a few channels, no samples,
            a file longer than ``max_seconds``.
    """
    if isinstance(audio, (str, os.PathLike)):
        return load_audio(audio, sample_rate=target_rate, max_seconds=max_seconds)
    if isinstance(audio, tuple):
        if len(audio) != 2:
            raise AudioError(f"{what}: a tuple must be (waveform, sample_rate)")
        audio, sample_rate = audio
        if _is_int(audio) and not _is_int(sample_rate):
            audio, sample_rate = sample_rate, audio  # Gradio's (sample_rate, waveform)
    if sample_rate is None:
        raise AudioError(f"{what}: a waveform needs its sample rate (sample_rate=...)")
    check_rate(sample_rate, what)
    wav = audio.detach().cpu().numpy() if isinstance(audio, Tensor) else np.asarray(audio)
    if np.issubdtype(wav.dtype, np.integer):
        wav = _pcm_to_float(wav, what)
    elif not np.issubdtype(wav.dtype, np.floating):
        raise AudioError(f"{what}: expected float or integer PCM samples, got {wav.dtype}")
    if wav.ndim == 2:
        if 1 in wav.shape:
            wav = wav.reshape(-1)
        elif min(wav.shape) <= MAX_CHANNELS:
            wav = wav.mean(axis=int(np.argmin(wav.shape)))
    if wav.ndim != 1:
        raise AudioError(f"{what}: expected mono audio (samples,) or a few channels, got "
                         f"shape {tuple(wav.shape)}")
    if wav.size == 0:
        raise AudioError(f"{what}: audio has no samples")
    if not np.isfinite(wav).all():
        raise AudioError(f"{what}: audio contains NaN or infinite samples")
    rate = int(sample_rate)
    wav = np.ascontiguousarray(wav, dtype=np.float32)
    if target_rate is not None and target_rate != rate:
        wav, rate = resample(wav, rate, target_rate), int(target_rate)
    return wav, rate


def load_mono(path: str | os.PathLike, sample_rate: int, *,
              max_seconds: float | None = MAX_SECONDS) -> Tensor:
    """An audio file as a mono float32 tensor ``(samples,)`` at ``sample_rate`` Hz
    (:func:`load_input_audio` of a path). Errors name the file."""
    wav, _ = load_input_audio(path, target_rate=sample_rate, max_seconds=max_seconds)
    return torch.from_numpy(wav)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _pcm_to_float(wav: np.ndarray, what: str) -> np.ndarray:
    """Integer PCM -> float in [-1, 1] (int16 / 32768, uint8 centred on 128, ...)."""
    kind = np.iinfo(wav.dtype)
    if kind.min == 0:  # unsigned: 8-bit WAV style, centred on the middle value
        half = (kind.max + 1) / 2
        return ((wav.astype(np.float64) - half) / half).astype(np.float32)
    if kind.bits > 32:
        raise AudioError(f"{what}: {wav.dtype} samples are not a PCM format; give float "
                         "samples in [-1, 1] or int16/int32")
    return (wav.astype(np.float64) / -kind.min).astype(np.float32)


def to_mono(wav: Tensor, channel_dim: int = -2) -> Tensor:
    """Average the channels of ``(..., channels, samples)`` audio: ``(..., samples)``."""
    return wav.mean(dim=channel_dim)


def resample_tensor(wav: Tensor, orig_sr: int, target_sr: int) -> Tensor:
    """Resample ``(..., samples)`` float audio from ``orig_sr`` to ``target_sr`` Hz.

    Uses the same resampler as :func:`vocoder.audio.load_audio` (soxr, high quality), so a
    file and an in-memory waveform give the same samples. The output has
    ``ceil(samples * target_sr / orig_sr)`` samples and keeps the input's device and dtype.
    """
    if orig_sr == target_sr:
        return wav
    out = resample(wav.detach().cpu().float().numpy(), orig_sr, target_sr)
    return torch.from_numpy(np.ascontiguousarray(out)).to(device=wav.device, dtype=wav.dtype)


# ------------------------------------------------------------------------------ silence


def trim_silence(wav: Wave, sample_rate: int, method: str = "energy", *,
                 top_db: float = 40.0, floor_db: float = -60.0, margin_seconds: float = 0.05,
                 trigger_level: float = 7.0, threshold: float = 1e-3) -> Wave:
    """Cut leading and trailing silence from mono ``(samples,)`` audio; pauses inside stay.

    Methods:

    - ``"energy"`` (reference recordings): 25 ms frames (10 ms hop) whose RMS level is within
      ``top_db`` of the loudest frame and above ``floor_db`` dBFS are speech; everything
      before the first and after the last speech frame, less ``margin_seconds``, is cut. No
      dependency, deterministic, any length.
    - ``"sox"``: SoX's ``vad`` (``torchaudio.functional.vad``, ``trigger_level``) on the audio
      and on its reverse, as the published kNN-VC does. It calibrates on the first 0.35 s and
      keeps nothing before its trigger point, so it cuts speech; for reproducing kNN-VC's
      matching sets.
    - ``"threshold"`` (synthetic speech with digital silence, such as espeak-ng's): samples
      whose magnitude is below ``threshold`` are cut at both ends.
    - ``"none"``: the audio as it is.

    Args:
        wav: float audio in [-1, 1], a tensor or an array.
        sample_rate: its rate in Hz.

    Returns:
        The trimmed audio, of the input's type (a tensor comes back on the CPU); empty when
        nothing counts as speech.
    """
    if method not in TRIM_METHODS:
        raise ValueError(f"trim method must be 'energy', 'sox', 'threshold' or 'none', got "
                         f"{method!r}")
    is_numpy = isinstance(wav, np.ndarray)
    x = torch.from_numpy(np.asarray(wav)) if is_numpy else wav.detach().cpu()
    if method == "none":
        return wav if is_numpy else x.float()
    if method == "sox":
        from vocoder.dependencies import require

        vad = require("torchaudio.functional", "SoX-style silence trimming").vad
        x = x.float()
        front = vad(x, sample_rate, trigger_level=trigger_level)
        out = front if front.numel() == 0 else vad(front.flip(-1), sample_rate,
                                                   trigger_level=trigger_level).flip(-1)
        return out.numpy() if is_numpy else out
    start, end = (_threshold_bounds(x, threshold) if method == "threshold"
                  else _energy_bounds(x.float(), sample_rate, top_db, floor_db, margin_seconds))
    out = x[start:end]
    return out.numpy() if is_numpy else out.float()


def _threshold_bounds(x: Tensor, threshold: float) -> tuple[int, int]:
    loud = torch.nonzero(x.abs() >= threshold).flatten()
    if loud.numel() == 0:
        return 0, 0
    return int(loud[0]), int(loud[-1]) + 1


def _energy_bounds(x: Tensor, sample_rate: int, top_db: float, floor_db: float,
                   margin_seconds: float) -> tuple[int, int]:
    frame = max(1, round(0.025 * sample_rate))
    hop = max(1, round(0.010 * sample_rate))
    padded = torch.nn.functional.pad(x, (0, frame - x.shape[0])) if x.shape[0] < frame else x
    power = padded.unfold(0, frame, hop).pow(2).mean(dim=1)
    level = 10 * torch.log10(power.clamp_min(1e-20))
    limit = max(float(level.max()) - top_db, floor_db)
    speech = torch.nonzero(level > limit).flatten()
    if speech.numel() == 0:
        return 0, 0
    margin = round(margin_seconds * sample_rate)
    return (max(0, int(speech[0]) * hop - margin),
            min(x.shape[0], int(speech[-1]) * hop + frame + margin))


# ------------------------------------------------------------------------------ loudness


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


__all__ = ["AudioInput", "LOUDNESS_BLOCK_SECONDS", "TRIM_METHODS", "integrated_loudness",
           "load_input_audio", "load_mono", "normalize_loudness", "resample_tensor", "to_mono",
           "trim_silence"]
