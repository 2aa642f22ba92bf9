"""Reading and writing audio files: mono float32 in [-1, 1], resampled on request.

Every entry point reads audio through this module (the ``vocoder`` and ``synth`` commands,
training data, the web app's uploads), so every one of them refuses the same things, with one
line naming the file, before any sample is decoded:

- a sample rate outside :data:`vocoder.config.SAMPLE_RATE_RANGE` (4-192 kHz): resampling a
  header that claims 1 Hz to 22.05 kHz would make 22,050 samples of every one;
- audio longer than ``max_seconds`` (:data:`MAX_SECONDS` by default) where a whole file is
  loaded; :func:`stream_audio` reads any length block by block.

Resampling (soxr, high quality) works through long audio in blocks, so it holds the output and
one block, whatever the length; with both rates bounded its ratio is at most 48.
Files are written only through :func:`save_wav` (atomically, :mod:`vocoder.atomic`).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from .atomic import OutputError, atomic_open
from .config import SAMPLE_RATE_RANGE
from .errors import InputError, shown

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif")

#: Longest audio (seconds) :func:`load_audio` reads by default; ``max_seconds=None`` lifts it.
MAX_SECONDS = 3600.0
#: Frames read (and resampled) at a time.
BLOCK_FRAMES = 1 << 18
#: What a 16-bit PCM WAV file can hold (its sizes are 32-bit).
MAX_WAV_SAMPLES = (2**32 - 1 - 36) // 2


class AudioError(InputError):
    """An audio file that cannot be read or used; the message names the file.

    ``key`` is the setting the error is about (``"max_seconds"``), when it is about one.
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class SampleRateError(AudioError):
    """A sample rate outside :data:`SAMPLE_RATE_RANGE`; ``rate`` is the rate found."""

    def __init__(self, message: str, rate: float) -> None:
        super().__init__(message, key="sample_rate")
        self.rate = rate


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file's header says: ``frames`` per channel (0 when unknown), its
    ``sample_rate`` in Hz, ``channels``, and libsndfile's ``format``/``subtype`` names."""

    frames: int
    sample_rate: int
    channels: int
    format: str
    subtype: str

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def check_rate(rate: int | float, what: str = "audio") -> int:
    """``rate`` as an int when it is within :data:`SAMPLE_RATE_RANGE`, else
    :class:`SampleRateError` naming ``what``."""
    low, high = SAMPLE_RATE_RANGE
    if not low <= rate <= high or int(rate) != rate:
        shown_rate = int(rate) if float(rate).is_integer() else f"{rate:g}"
        raise SampleRateError(f"{what}: sample rate {shown_rate} Hz is not usable (audio must "
                              f"be {low}-{high} Hz)", rate)
    return int(rate)


def read_header(path: str | os.PathLike) -> AudioInfo:
    """The header of an audio file, its sample rate checked (:func:`check_rate`); nothing is
    decoded.

    Raises:
        AudioError: missing or unreadable file, or an unusable sample rate.
    """
    path = Path(path)
    with _open(path) as f:
        return _info(f, path)


def audio_info(path: str | os.PathLike) -> tuple[int, int]:
    """``(samples, sample_rate)`` of an audio file from its header (:func:`read_header`)."""
    info = read_header(path)
    return info.frames, info.sample_rate


def stream_audio(path: str | os.PathLike, sample_rate: int | None = None, *,
                 max_seconds: float | None = None,
                 block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
    """Mono float32 blocks ``(samples,)`` of an audio file, resampled to ``sample_rate`` on
    the way (the same samples as :func:`load_audio`, which joins them), holding one block at
    a time. The header is checked before the first block (rate, and ``max_seconds`` when
    given).

    Raises:
        AudioError: missing, unreadable or empty file, an unusable sample rate, samples that
            are not finite, or audio longer than ``max_seconds``.
    """
    path = Path(path)
    with _open(path) as f:
        info = _info(f, path)
        _check_length(info.frames, info.sample_rate, max_seconds, path)
        out_rate = info.sample_rate if sample_rate is None else check_rate(
            sample_rate, f"{shown(path)}: resampling")
        stream = None
        if out_rate != info.sample_rate:
            import soxr

            stream = soxr.ResampleStream(info.sample_rate, out_rate, 1, dtype="float32",
                                         quality="HQ")
        read = 0
        while True:
            try:
                data = f.read(block_frames, dtype="float32", always_2d=True)
            except Exception as exc:  # noqa: BLE001 - libsndfile fails in several ways
                raise AudioError(f"{shown(path)}: cannot read audio ({_short(exc)})") from None
            last = data.shape[0] < block_frames
            read += data.shape[0]
            _check_length(read, info.sample_rate, max_seconds, path)
            if read == 0 and last:
                raise AudioError(f"{shown(path)}: audio file has no samples")
            block = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
            if not np.isfinite(block).all():
                raise AudioError(f"{shown(path)}: audio contains NaN or infinite samples")
            if stream is not None:
                block = stream.resample_chunk(np.ascontiguousarray(block), last=last)
            if block.size:
                yield np.ascontiguousarray(block, dtype=np.float32)
            if last:
                return


def load_audio(path: str | os.PathLike, sample_rate: int | None = None, *,
               max_seconds: float | None = MAX_SECONDS) -> tuple[np.ndarray, int]:
    """Read an audio file as mono float32 ``(samples,)`` in [-1, 1].

    Channels are averaged. With ``sample_rate`` the audio is resampled to it (high-quality
    polyphase, via soxr, block by block) and that rate is returned; otherwise the file's own.

    Args:
        path: any format libsndfile reads (WAV, FLAC, Ogg Vorbis/Opus, MP3, AIFF...).
        sample_rate: rate to resample to (4-192 kHz), or ``None``.
        max_seconds: longest audio accepted, from the header before decoding (and again while
            reading, should the header understate it); ``None``: no limit.

    Raises:
        AudioError: missing, unreadable or empty file, an unusable sample rate (outside
            4-192 kHz), samples that are not finite, or audio longer than ``max_seconds``
            (``key="max_seconds"``).
    """
    path = Path(path)
    info = read_header(path)
    _check_length(info.frames, info.sample_rate, max_seconds, path)
    rate = info.sample_rate if sample_rate is None else check_rate(
        sample_rate, f"{shown(path)}: resampling")
    expected = resampled_length(info.frames, info.sample_rate, rate)
    out = np.empty(expected, dtype=np.float32)  # filled in place: no second copy
    filled = 0
    extra: list[np.ndarray] = []  # only when the header understated the length
    for block in stream_audio(path, sample_rate, max_seconds=max_seconds):
        take = min(len(block), expected - filled)
        out[filled:filled + take] = block[:take]
        filled += take
        if take < len(block):
            extra.append(block[take:])
    if extra:
        return np.concatenate([out[:filled], *extra]), rate
    return (out if filled == expected else out[:filled].copy()), rate


def resampled_length(samples: int, orig_sr: int, target_sr: int) -> int:
    """Samples :func:`resample` (soxr) makes of ``samples`` samples: ``round(samples *
    target_sr / orig_sr)``, halves rounded up."""
    return (2 * samples * target_sr + orig_sr) // (2 * orig_sr)


def resample(wav: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample ``(..., samples)`` float audio from ``orig_sr`` to ``target_sr`` Hz (soxr, high
    quality, the same samples as ``librosa.resample(res_type="soxr_hq")``), as float32.

    Long audio is resampled block by block: besides the output, memory holds one block.

    Raises:
        AudioError: a rate outside :data:`SAMPLE_RATE_RANGE`.
    """
    check_rate(orig_sr, "resampling: input")
    check_rate(target_sr, "resampling: output")
    wav = np.asarray(wav)
    if orig_sr == target_sr:
        return wav
    import soxr

    rows = wav.reshape(-1, wav.shape[-1]) if wav.ndim != 1 else wav[None]
    n = rows.shape[-1]
    out = np.empty((rows.shape[0], resampled_length(n, orig_sr, target_sr)), dtype=np.float32)
    for row, dest in zip(rows, out):
        row = np.ascontiguousarray(row, dtype=np.float32)
        if n <= BLOCK_FRAMES:
            dest[:] = soxr.resample(row, orig_sr, target_sr, quality="HQ")
            continue
        stream = soxr.ResampleStream(orig_sr, target_sr, 1, dtype="float32", quality="HQ")
        filled = 0
        for start in range(0, n, BLOCK_FRAMES):
            piece = stream.resample_chunk(row[start:start + BLOCK_FRAMES],
                                          last=start + BLOCK_FRAMES >= n)
            dest[filled:filled + len(piece)] = piece
            filled += len(piece)
    return out[0] if wav.ndim == 1 else out.reshape(*wav.shape[:-1], out.shape[-1])


def to_int16(wav: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> int16 PCM (scaled by 32767, clipped)."""
    return (np.clip(wav, -1.0, 1.0) * 32767.0).round().astype(np.int16)


def save_wav(path: str | os.PathLike, wav: np.ndarray, sample_rate: int) -> None:
    """Write mono float audio ``(samples,)`` as 16-bit PCM WAV, atomically.

    The file is the canonical 44-byte-header WAV (as libsndfile writes it), converted and
    written block by block.

    Raises:
        vocoder.atomic.OutputError: the file cannot be written (read-only or missing folder,
            full disk...), or is too long for a WAV file.
    """
    wav = np.asarray(wav).reshape(-1)
    if len(wav) > MAX_WAV_SAMPLES:
        raise OutputError(f"{shown(path)}: {len(wav)} samples do not fit in a WAV file (at "
                          f"most {MAX_WAV_SAMPLES})")
    data_bytes = 2 * len(wav)
    header = (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
              + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, int(sample_rate),
                                      2 * int(sample_rate), 2, 16)
              + b"data" + struct.pack("<I", data_bytes))
    with atomic_open(path) as handle:
        handle.write(header)
        for start in range(0, len(wav), BLOCK_FRAMES):
            block = to_int16(np.asarray(wav[start:start + BLOCK_FRAMES], dtype=np.float32))
            handle.write(block.astype("<i2", copy=False).tobytes())


def list_audio(directory: str | os.PathLike) -> list[Path]:
    """Audio files directly inside ``directory``, sorted by name."""
    directory = Path(directory)
    return sorted(p for p in directory.iterdir()
                  if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def _open(path: Path) -> sf.SoundFile:
    if not path.is_file():
        raise AudioError(f"{shown(path)}: audio file not found")
    try:
        return sf.SoundFile(str(path))
    except Exception as exc:  # noqa: BLE001 - LibsndfileError, RuntimeError, TypeError...
        raise AudioError(f"{shown(path)}: cannot read audio ({_short(exc)})") from None


def _info(f: sf.SoundFile, path: Path) -> AudioInfo:
    frames = f.frames if 0 <= f.frames < 2**62 else 0  # libsndfile's "unknown" is huge
    info = AudioInfo(int(frames), int(f.samplerate), int(f.channels), str(f.format),
                     str(f.subtype))
    check_rate(info.sample_rate, shown(path))
    return info


def _check_length(frames: int, rate: int, max_seconds: float | None, path: Path) -> None:
    if max_seconds is not None and frames > max_seconds * rate:
        raise AudioError(f"{shown(path)}: {frames / rate:.1f} s of audio is longer than the "
                         f"limit of {max_seconds:g} s", key="max_seconds")


def _short(exc: Exception) -> str:
    """The cause in a libsndfile error, without its copy of the path (which may hold any
    character)."""
    text = getattr(exc, "error_string", None) or str(exc)
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


__all__ = ["AUDIO_EXTENSIONS", "AudioError", "AudioInfo", "BLOCK_FRAMES", "MAX_SECONDS",
           "SampleRateError",
           "audio_info", "check_rate", "list_audio", "load_audio", "read_header", "resample",
           "resampled_length", "save_wav", "stream_audio", "to_int16"]
