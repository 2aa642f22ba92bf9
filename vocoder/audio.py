"""Reading and writing audio files: mono float32 in [-1, 1], resampled on request.

The vocoder's commands and datasets read audio only through :func:`load_audio` and write it
only through :func:`save_wav`, so every failure names the file and every write is atomic.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from .atomic import atomic_path
from .errors import InputError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif")


class AudioError(InputError):
    """An audio file that cannot be read or used; the message names the file."""


def load_audio(path: str | os.PathLike, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file as mono float32 ``(samples,)`` in [-1, 1].

    Channels are averaged. With ``sample_rate`` the audio is resampled to it (high-quality
    polyphase, via soxr) and that rate is returned; otherwise the file's own rate.

    Raises:
        AudioError: missing, unreadable or empty file, or samples that are not finite.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, TypeError...
        raise AudioError(f"{path}: cannot read audio ({_short(exc)})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: audio file has no samples")
    wav = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(wav).all():
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    if sample_rate is not None and sr != sample_rate:
        wav = resample(wav, sr, sample_rate)
        sr = sample_rate
    return np.ascontiguousarray(wav, dtype=np.float32), int(sr)


def audio_info(path: str | os.PathLike) -> tuple[int, int]:
    """``(samples, sample_rate)`` of an audio file from its header, without decoding it.

    Raises:
        AudioError: missing or unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    try:
        info = sf.info(str(path))
    except Exception as exc:
        raise AudioError(f"{path}: cannot read audio ({_short(exc)})") from None
    return int(info.frames), int(info.samplerate)


def resample(wav: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample ``(..., samples)`` float audio from ``orig_sr`` to ``target_sr`` Hz."""
    if orig_sr == target_sr:
        return wav
    import librosa  # imported here: loading librosa's resampler costs ~1 s

    return librosa.resample(wav, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq",
                            axis=-1).astype(np.float32)


def to_int16(wav: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> int16 PCM (scaled by 32767, clipped)."""
    return (np.clip(wav, -1.0, 1.0) * 32767.0).round().astype(np.int16)


def save_wav(path: str | os.PathLike, wav: np.ndarray, sample_rate: int) -> None:
    """Write mono float audio ``(samples,)`` as 16-bit PCM WAV, atomically."""
    wav = np.asarray(wav, dtype=np.float32).reshape(-1)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), to_int16(wav), sample_rate, subtype="PCM_16", format="WAV")


def list_audio(directory: str | os.PathLike) -> list[Path]:
    """Audio files directly inside ``directory``, sorted by name."""
    directory = Path(directory)
    return sorted(p for p in directory.iterdir()
                  if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
