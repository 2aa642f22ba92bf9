"""Checks on files a user uploads to the web app, before any model sees them.

An upload is checked for size, readability, duration, sample rate and silence, and read as
mono float32 through :func:`synth.audio.load_input_audio`; what had to be converted (channels
mixed down, 8-bit or float samples, samples beyond full scale, another rate) is reported as
notes. Messages name the upload by what it is and its file name, never the server's folder.
Uploads are read by any format libsndfile reads (WAV, FLAC, OGG/Vorbis and Opus, MP3...),
without ffmpeg, through the one audio reader (:mod:`vocoder.audio`): the header is checked
(sample rate, duration) before anything is decoded.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from vocoder.audio import AudioError, SampleRateError, read_header
from vocoder.models import sha256_file
from vocoder.config import SAMPLE_RATE_RANGE
from vocoder.errors import InputError

from .audio import load_input_audio

SILENCE_DBFS = -60.0  # a clip whose peak is below this is treated as silence
#: Files that may come with an uploaded checkpoint: its family's config, hyperparameter and
#: statistics files (config.json, hyperparams.yaml, config.yml, stats.h5 / stats.npy).
CONFIG_SUFFIXES = (".json", ".yaml", ".yml", ".h5", ".npy")
MAX_CONFIG_FILES = 4
STAGED_KEPT = 16  # uploaded checkpoint folders kept at once
MIN_RATE, MAX_RATE = SAMPLE_RATE_RANGE  # sample rates a speech recording can have


class UploadError(InputError):
    """An upload the app cannot use; the message names it and is shown as it is."""


@dataclass(frozen=True)
class Limits:
    """What one request may send.

    Attributes:
        max_upload_mb: largest uploaded file, in MB (10^6 bytes).
        max_seconds: longest uploaded audio clip (and longest mel to vocode), in seconds.
        min_seconds: shortest usable clip, in seconds.
        max_text_chars: longest text for text to speech.
        max_references: most reference clips in one request.
    """

    max_upload_mb: float = 100.0
    max_seconds: float = 60.0
    min_seconds: float = 0.2
    max_text_chars: int = 2000
    max_references: int = 20

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)


@dataclass
class Clip:
    """An uploaded clip: mono float32 ``wav`` ``(samples,)`` at ``sample_rate`` Hz, its file
    ``name`` (no folder) and ``notes`` on what was converted."""

    wav: np.ndarray
    sample_rate: int
    name: str
    notes: list[str]

    @property
    def seconds(self) -> float:
        return len(self.wav) / self.sample_rate

    def pair(self) -> tuple[np.ndarray, int]:
        return self.wav, self.sample_rate


def check_size(path: str | os.PathLike, label: str, limits: Limits) -> int:
    """The file's size in bytes, refused when missing, empty or over the upload limit."""
    try:
        size = Path(path).stat().st_size
    except OSError:
        raise UploadError(f"{label}: the upload is missing; upload it again") from None
    if size > limits.max_upload_bytes:
        raise UploadError(f"{label}: the file is {size / 1e6:.1f} MB; the limit is "
                          f"{limits.max_upload_mb:g} MB")
    if size == 0:
        raise UploadError(f"{label}: the file is empty")
    return size


def read_clip(path: str | os.PathLike, what: str, limits: Limits,
              target_rate: int | None = None) -> Clip:
    """Check and read an uploaded audio file.

    Raises :class:`UploadError` (naming ``what`` and the file name) for a file too big,
    unreadable, too long or short, at an unusable sample rate, or silent. Stereo is mixed
    down, 8-bit and float samples are converted, samples beyond full scale are scaled down;
    each conversion adds a note. ``target_rate`` only adds a note that the clip will be
    resampled.
    """
    path = Path(path)
    label = f"{what} ({path.name})"
    check_size(path, label, limits)
    try:  # the one audio reader's header check: nothing is decoded yet
        info = read_header(path)
    except SampleRateError as exc:
        raise UploadError(f"{label}: sample rate {exc.rate:g} Hz is not usable; speech "
                          f"recordings are {MIN_RATE}-{MAX_RATE} Hz (16000, 22050, 44100, "
                          "48000...)") from None
    except AudioError:
        raise UploadError(f"{label}: not an audio file the app can read (corrupt, or not "
                          "WAV/FLAC/OGG/MP3)") from None
    if info.seconds > limits.max_seconds:
        raise UploadError(f"{label}: {info.seconds:.1f} s long; the limit is "
                          f"{limits.max_seconds:g} s (trim the clip)")
    try:
        wav, sr = load_input_audio(path, max_seconds=limits.max_seconds)
    except AudioError as exc:
        if exc.key == "max_seconds":  # a header that understated the length
            raise UploadError(f"{label}: longer than the limit of {limits.max_seconds:g} s "
                              "(trim the clip)") from None
        raise UploadError(f"{label}: {strip_path(str(exc), path)}") from None
    seconds = len(wav) / sr
    if seconds > limits.max_seconds:
        raise UploadError(f"{label}: {seconds:.1f} s long; the limit is "
                          f"{limits.max_seconds:g} s (trim the clip)")
    if seconds < limits.min_seconds:
        raise UploadError(f"{label}: only {seconds:.2f} s long; the app needs at least "
                          f"{limits.min_seconds:g} s of speech")
    notes = []
    if info.channels > 1:
        notes.append(f"{label}: {info.channels} channels, mixed down to mono")
    subtype = (info.subtype or "").upper()
    if subtype in ("PCM_U8", "PCM_S8"):
        notes.append(f"{label}: 8-bit samples; their quantisation noise (about -48 dB) is "
                     "carried into the result")
    elif subtype in ("FLOAT", "DOUBLE"):
        notes.append(f"{label}: {'32' if subtype == 'FLOAT' else '64'}-bit float samples, "
                     "read as they are")
    peak = float(np.abs(wav).max())
    if peak <= 10 ** (SILENCE_DBFS / 20):
        level = "no signal at all" if peak == 0 else f"peak {20 * math.log10(peak):.0f} dBFS"
        raise UploadError(f"{label}: the clip is silent ({level}); upload or record speech")
    if peak > 1.0:
        wav = wav * np.float32(0.99 / peak)
        notes.append(f"{label}: samples reach {peak:.2f}, beyond full scale; scaled down to "
                     "peak 0.99")
    if target_rate is not None and sr != target_rate:
        note = f"{label}: resampled from {sr} Hz to {target_rate} Hz"
        if sr < target_rate:
            note += (f" (a {sr} Hz recording has nothing above {sr / 2000:g} kHz, so neither "
                     "has the result)")
        notes.append(note)
    return Clip(np.ascontiguousarray(wav, dtype=np.float32), int(sr), path.name, notes)


def read_clips(files: Sequence[str | os.PathLike] | str | os.PathLike | None, what: str,
               limits: Limits, target_rate: int | None = None) -> list[Clip]:
    """:func:`read_clip` for each of several uploads (none: an empty list), refused when
    there are more than ``limits.max_references``."""
    if files is None or files == "" or (isinstance(files, (list, tuple)) and not files):
        return []
    paths = [files] if isinstance(files, (str, os.PathLike)) else list(files)
    if len(paths) > limits.max_references:
        raise UploadError(f"{len(paths)} {what} clips; the limit is {limits.max_references}")
    return [read_clip(p, what, limits, target_rate) for p in paths]


def read_mel_upload(path: str | os.PathLike, limits: Limits) -> tuple[Path, np.ndarray]:
    """An uploaded ``.npy`` mel: its path and array (at least 2-D, with frames), read without
    unpickling anything."""
    from .pipeline import PipelineError, load_mel_file

    path = Path(path)
    label = f"mel ({path.name})"
    check_size(path, label, limits)
    if path.suffix.lower() != ".npy":
        raise UploadError(f"{label}: expected a .npy file (numpy.save of a (num_mels, frames) "
                          "array)")
    try:
        array = load_mel_file(path)
    except PipelineError as exc:
        raise UploadError(f"{label}: {strip_path(str(exc), path)}") from None
    if array.ndim < 2 or array.shape[-1] == 0:
        raise UploadError(f"{label}: expected an array of shape (num_mels, frames), got "
                          f"{tuple(array.shape)}")
    return path, array


def stage_checkpoint(checkpoint: str | os.PathLike,
                     configs: Sequence[str | os.PathLike] | str | os.PathLike | None,
                     folder: str | os.PathLike, limits: Limits) -> Path:
    """Put an uploaded checkpoint and the files that come with it side by side, as its
    toolkit publishes them, so its family and mel are found from them; returns the
    checkpoint's path there.

    Each upload is checked for size; the other files must be config, hyperparameter or
    statistics files (:data:`CONFIG_SUFFIXES`, at most :data:`MAX_CONFIG_FILES`) and keep
    their names, except that a single ``.json`` file is the ``config.json`` beside the
    checkpoint. The set goes to ``folder/<digest of its names and contents>/``, so the same
    upload is the same path (a model hub loads it once); the :data:`STAGED_KEPT` most recent
    sets are kept.

    Raises:
        UploadError: a file too big, empty, of another kind, or two files with one name.
    """
    ckpt = Path(checkpoint)
    check_size(ckpt, f"checkpoint ({ckpt.name})", limits)
    others = [] if configs is None or configs == "" else (
        [Path(configs)] if isinstance(configs, (str, os.PathLike)) else [Path(c) for c in configs])
    if len(others) > MAX_CONFIG_FILES:
        raise UploadError(f"{len(others)} config files; a checkpoint comes with at most "
                          f"{MAX_CONFIG_FILES}")
    names = []
    for path in others:
        check_size(path, f"config ({path.name})", limits)
        if path.suffix.lower() not in CONFIG_SUFFIXES or path.name.startswith("."):
            raise UploadError(f"config ({path.name}): expected a config, hyperparameter or "
                              f"statistics file ({', '.join(CONFIG_SUFFIXES)})")
        names.append(path.name)
    json_files = [i for i, n in enumerate(names) if n.lower().endswith(".json")]
    if len(json_files) == 1:
        names[json_files[0]] = "config.json"
    main = ckpt.name if not ckpt.name.startswith(".") else "checkpoint" + ckpt.suffix
    if len(set(names + [main])) != len(names) + 1:
        raise UploadError(f"two uploaded files are called the same: {', '.join([main] + names)}")
    digest = hashlib.sha256()
    for name, path in sorted(zip(names, others)) + [("", ckpt)]:
        digest.update(name.encode() + b"\0" + sha256_file(path).encode())
    root = Path(folder)
    target = root / digest.hexdigest()[:32]
    if not target.is_dir():
        tmp = root / f".{target.name}.{uuid.uuid4().hex}"
        tmp.mkdir(parents=True)
        for name, path in [(main, ckpt), *zip(names, others)]:
            shutil.copyfile(path, tmp / name)
        try:
            os.rename(tmp, target)
        except OSError:  # another request staged the same set meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
        _forget_old(root, keep=target)
    os.utime(target)
    found = [p for p in target.iterdir() if p.name not in names]
    return found[0] if len(found) == 1 else target / main


def _forget_old(root: Path, keep: Path) -> None:
    """Delete all but the :data:`STAGED_KEPT` most recently used staged folders."""
    staged = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in staged[STAGED_KEPT:]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def strip_path(message: str, path: str | os.PathLike) -> str:
    """``message`` with the server-side folder of ``path`` removed."""
    path = Path(path)
    return message.replace(f"{path}: ", "").replace(str(path), path.name)


__all__ = ["CONFIG_SUFFIXES", "Clip", "Limits", "MAX_RATE", "MIN_RATE", "SILENCE_DBFS",
           "UploadError", "check_size", "read_clip", "read_clips", "read_mel_upload",
           "stage_checkpoint", "strip_path"]
