"""Per-utterance feature files for training feature vocoders, and the job that writes them.

File layout (what ``vocoder train --input-features-dir DIR`` reads)
    ``DIR/<id>.npy``: float16 (default) or float32 array of shape ``(frames, dim)``, one file
    per utterance, ``<id>`` being the audio file's stem. Reading also accepts ``<id>.pt``
    files holding one tensor (the published kNN-VC tools write those) and a leading batch
    axis of 1. ``DIR/features.json`` records how the files were made (model, layer, dim,
    dtype; k and speakers for prematched sets) so that a resumed run cannot mix features of
    two settings in one directory.

Frames
    The audio is resampled to the extractor's rate (16 kHz) and zero-padded at the end so
    that ``samples`` give exactly ``samples // 320`` frames (50 Hz), frame ``i`` starting at
    sample ``320 i``: the frame grid of a vocoder with ``prod(upsample_rates) = 320`` (or
    ``sample_rate / 50`` at other vocoder rates: ``samples_at_16k // 320`` and
    ``samples_at_sr // (sr / 50)`` differ by at most one frame). The padding is
    ``max(0, 80 - samples % 320)`` zeros (the published kNN-VC pads ``320 - samples % 320``:
    the same frames, as the extra zeros complete no frame). Without it WavLM gives
    ``(samples - 400) // 320 + 1`` frames, one fewer in a quarter of the cases.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from vocoder.atomic import OutputError, save_npy, write_text
from vocoder.audio import MAX_SECONDS, AudioError
from vocoder.errors import InputError, shown
from vocoder.frames import native_float
from vocoder.safeload import MAX_FEATURE_FILE_BYTES, TorchFileError, torch_load

from .audio import load_mono
from .corpus import Utterance
from .extraction import FeatureExtractor

FEATURE_SUFFIXES = (".npy", ".pt")
INFO_NAME = "features.json"
INFO_FORMAT = "hifisynth.features"
SAVE_DTYPES = {"float16": np.float16, "float32": np.float32}

Log = Callable[[str], None]


class FeatureFileError(InputError):
    """A feature file or output directory that cannot be used; the message names it."""


def report(message: str) -> None:
    """Print a message on stderr without breaking a tqdm progress bar."""
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


# ---------------------------------------------------------------------- files
def output_path(directory: str | os.PathLike, utt_id: str) -> Path:
    """Where an utterance's features are written: ``directory/<id>.npy``."""
    return Path(directory) / f"{utt_id}.npy"


def find_feature_file(directory: str | os.PathLike, utt_id: str) -> Path | None:
    """``directory/<id>.npy`` or ``<id>.pt``, whichever exists first; ``None`` if neither."""
    for suffix in FEATURE_SUFFIXES:
        path = Path(directory) / f"{utt_id}{suffix}"
        if path.is_file():
            return path
    return None


def _load(path: Path, header_only: bool) -> np.ndarray | Tensor:
    if path.suffix == ".pt":  # read safely, never inflated (vocoder.safeload)
        try:
            obj = torch_load(path, what="feature file", max_bytes=MAX_FEATURE_FILE_BYTES,
                             mmap=header_only, finite=False)
        except TorchFileError as exc:
            if not header_only or exc.unsafe or "corrupt" not in str(exc):
                raise FeatureFileError(str(exc)) from None
            obj = torch_load(path, what="feature file",  # legacy format: no mmap
                             max_bytes=MAX_FEATURE_FILE_BYTES, finite=False)
        if not isinstance(obj, Tensor):
            raise FeatureFileError(f"{shown(path)}: cannot read .pt feature file (expected one "
                                   f"tensor, got {type(obj).__name__})")
        return obj
    try:
        with open(path, "rb") as f:
            if f.read(6) != b"\x93NUMPY":
                raise ValueError("not a .npy file")
        array = np.load(path, allow_pickle=False, mmap_mode="r" if header_only else None)
    except Exception as exc:  # format errors of any kind
        text = str(exc).strip().splitlines()
        raise FeatureFileError(f"{shown(path)}: cannot read {path.suffix} feature file "
                               f"({text[0] if text else type(exc).__name__})") from None
    return array if header_only else native_float(array)


def _frames_dim(path: Path, shape: Sequence[int], dim: int | None) -> tuple[int, int]:
    shape = tuple(int(s) for s in shape)
    core = shape[1:] if len(shape) == 3 and shape[0] == 1 else shape
    if len(core) != 2 or (dim is not None and core[1] != dim):
        want = f"(frames, {dim if dim is not None else 'dim'})"
        hint = " (it looks transposed)" if len(core) == 2 and dim is not None \
            and core[0] == dim else ""
        raise FeatureFileError(f"{path}: features have shape {shape}, expected {want} or "
                               f"(1, frames, {dim if dim is not None else 'dim'}){hint}")
    if core[0] == 0:
        raise FeatureFileError(f"{path}: feature file has no frames")
    return core[0], core[1]


def feature_shape(path: str | os.PathLike, dim: int | None = None) -> tuple[int, int]:
    """``(frames, dim)`` of a feature file from its header (the data is not read).

    Raises:
        FeatureFileError: unreadable file, wrong layout, or a dim other than ``dim``.
    """
    path = Path(path)
    return _frames_dim(path, _load(path, header_only=True).shape, dim)


def read_features(path: str | os.PathLike, dim: int | None = None) -> Tensor:
    """A feature file as float32 ``(frames, dim)`` on the CPU.

    Raises:
        FeatureFileError: unreadable file, wrong layout or dim, or non-finite values.
    """
    path = Path(path)
    data = _load(path, header_only=False)
    _frames_dim(path, data.shape, dim)
    x = torch.as_tensor(data).float()
    if x.dim() == 3:
        x = x[0]
    if not torch.isfinite(x).all():
        raise FeatureFileError(f"{path}: features contain NaN or infinite values")
    return x.contiguous()


def write_features(path: str | os.PathLike, features: Tensor, dtype: str = "float16") -> None:
    """Write ``(frames, dim)`` features as a ``.npy`` file of ``dtype``, atomically.

    Raises:
        FeatureFileError: the values do not fit ``dtype`` (float16 overflows past 65504).
    """
    if dtype not in SAVE_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(SAVE_DTYPES)}, got {dtype!r}")
    array = features.detach().float().cpu().numpy().astype(SAVE_DTYPES[dtype])
    if not np.isfinite(array).all():
        raise FeatureFileError(f"{path}: features are not finite in {dtype} (float16 holds "
                               "|x| <= 65504); write them as float32")
    save_npy(path, array)


# ---------------------------------------------------------------------- set info
@dataclass
class FeatureSetInfo:
    """How the feature files of a directory were made (``features.json``).

    Attributes:
        kind: ``"features"`` (extracted) or ``"prematched"``.
        model: extractor name (``"WAVLM_LARGE"``); ``None`` when unknown.
        layer: transformer layer (1-based); ``None`` when unknown.
        dim: feature size.
        sample_rate: the extractor's input rate (Hz).
        hop_samples: samples per frame at that rate (320).
        dtype: ``"float16"`` or ``"float32"``.
        k: neighbours averaged (prematched sets).
        pool_minutes: most audio per matching pool (prematched sets; ``None`` = no limit).
        speakers: where speakers came from (prematched sets).
        source: where the input features came from (not compared on resume).
    """

    kind: str
    model: str | None
    layer: int | None
    dim: int | None
    sample_rate: int | None
    hop_samples: int | None
    dtype: str
    k: int | None = None
    pool_minutes: float | None = None
    speakers: str | None = None
    source: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        return {"format": INFO_FORMAT, "version": 1, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict, source: str) -> "FeatureSetInfo":
        if not isinstance(data, dict) or data.get("format") != INFO_FORMAT:
            raise FeatureFileError(f"{source}: not a hifisynth {INFO_NAME}")
        names = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except TypeError as exc:
            raise FeatureFileError(f"{source}: incomplete {INFO_NAME} ({exc})") from None

    def differences(self, other: "FeatureSetInfo") -> list[str]:
        """``"key: this vs other"`` for every compared field that differs."""
        return [f"{f.name} {getattr(self, f.name)!r} vs {getattr(other, f.name)!r}"
                for f in fields(self) if f.compare
                and getattr(self, f.name) != getattr(other, f.name)]


def read_info(directory: str | os.PathLike) -> FeatureSetInfo | None:
    """The directory's ``features.json``, or ``None`` if it has none."""
    path = Path(directory) / INFO_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FeatureFileError(f"{path}: cannot read ({exc})") from None
    return FeatureSetInfo.from_dict(data, str(path))


def claim_output_dir(directory: str | os.PathLike, info: FeatureSetInfo,
                     overwrite: bool = False) -> None:
    """Make ``directory`` the home of features made as ``info``, or refuse.

    A directory written before with other settings (another model, layer, dtype, k...) is
    refused unless ``overwrite``, so a resumed run never mixes two kinds of features; so is
    one holding ``.npy`` files but no ``features.json``.

    Raises:
        FeatureFileError: the directory holds other features.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise FeatureFileError(f"{directory}: output path exists and is not a directory")
    if not overwrite:
        old = read_info(directory)
        if old is not None:
            diff = old.differences(info)
            if diff:
                raise FeatureFileError(
                    f"{directory / INFO_NAME}: the directory holds features made with other "
                    f"settings ({'; '.join(diff)}: before vs now); use another output "
                    "directory, or --overwrite to redo every file")
        elif directory.is_dir() and any(directory.glob("*.npy")):
            raise FeatureFileError(
                f"{directory}: holds .npy files but no {INFO_NAME}, so they were not written by "
                "this command; use another output directory, or --overwrite to replace them")
    write_text(directory / INFO_NAME, json.dumps(info.to_dict(), indent=2) + "\n")


# ---------------------------------------------------------------------- frames
def aligned_frames(extractor: FeatureExtractor, samples: int) -> int:
    """Frames that :func:`extract_aligned` gives for ``samples`` at the extractor's rate:
    ``samples // hop_length``."""
    return int(samples) // extractor.hop_length


def frames_for_audio(extractor: FeatureExtractor, samples: int, sample_rate: int) -> int:
    """Frames of a file of ``samples`` at ``sample_rate`` once resampled to the extractor's
    rate (``ceil(samples * rate / sample_rate)`` samples, as :func:`synth.audio.load_mono`)."""
    if sample_rate != extractor.sample_rate:
        samples = math.ceil(samples * extractor.sample_rate / sample_rate)
    return aligned_frames(extractor, samples)


def extract_aligned(extractor: FeatureExtractor, waveforms: Sequence[Tensor],
                    layer: int) -> list[Tensor]:
    """Features on the vocoder's frame grid: ``samples // hop`` frames per waveform.

    Args:
        extractor: the feature extractor.
        waveforms: mono ``(samples,)`` float tensors at the extractor's rate, each at least
            one hop (320 samples) long.
        layer: transformer layer (1-based).

    Returns:
        float32 ``(samples_i // hop, dim)`` per waveform, on the extractor's device. Each
        waveform is zero-padded at the end by ``max(0, receptive_field - hop - samples % hop)``
        samples (see the module docstring).
    """
    hop, field_ = extractor.hop_length, extractor.receptive_field
    padded = []
    for i, wav in enumerate(waveforms):
        n = int(wav.shape[0])
        frames = aligned_frames(extractor, n)
        if frames == 0:
            raise ValueError(f"waveform {i}: {n} samples at {extractor.sample_rate} Hz is shorter "
                             f"than one frame ({hop} samples)")
        pad = max(0, (frames - 1) * hop + field_ - n)
        assert extractor.num_frames(n + pad) == frames
        padded.append(torch.nn.functional.pad(wav.float(), (0, pad)))
    return extractor.extract_list(padded, layer)


# ---------------------------------------------------------------------- jobs
@dataclass
class JobSummary:
    """What a feature job did.

    Attributes:
        total: utterances given.
        written: feature files written.
        skipped: utterances whose output already existed (resumed).
        failed: ``(utterance, reason)`` for every bad item, in order.
    """

    total: int = 0
    written: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    def fail(self, utt: Utterance, reason: str, log: Log) -> None:
        """Record and report a bad item (a reason that starts with its audio path loses it)."""
        prefix = f"{utt.audio}: "
        if reason.startswith(prefix):
            reason = reason[len(prefix):]
        self.failed.append((utt.where, reason))
        log(f"skipping {utt.where}: {reason}")

    def message(self, output_dir: str | os.PathLike) -> str:
        """The one-paragraph summary printed at the end of a run."""
        parts = [f"{self.written} feature file(s) written to {output_dir}"]
        if self.skipped:
            parts.append(f"{self.skipped} already there (skipped)")
        if self.failed:
            parts.append(f"{len(self.failed)} bad item(s) skipped")
        text = "; ".join(parts) + f" ({self.total} utterance(s) in all)"
        if self.failed:
            shown = self.failed[:20]
            text += "\nbad items:\n" + "\n".join(f"  {w}: {r}" for w, r in shown)
            if len(self.failed) > len(shown):
                text += f"\n  ... and {len(self.failed) - len(shown)} more (see above)"
        return text


def progress_bar(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="utt", file=sys.stderr, dynamic_ncols=True,
                disable=not enabled)


def error_text(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def load_for_extractor(extractor: FeatureExtractor, utt: Utterance,
                       max_seconds: float | None = MAX_SECONDS) -> Tensor:
    """An utterance's audio as mono float32 ``(samples,)`` at the extractor's rate, at least
    one frame long.

    Raises:
        AudioError: unreadable file, or longer than ``max_seconds``; ValueError: shorter than
            one frame.
    """
    wav = load_mono(utt.audio, extractor.sample_rate, max_seconds=max_seconds)
    if aligned_frames(extractor, wav.shape[0]) == 0:
        raise ValueError(f"audio too short: {wav.shape[0]} samples at {extractor.sample_rate} Hz, "
                         f"one frame needs {extractor.hop_length}")
    return wav


def extract_corpus(extractor: FeatureExtractor, utterances: Sequence[Utterance],
                   output_dir: str | os.PathLike, layer: int, *, save_dtype: str = "float16",
                   batch_seconds: float = 60.0, overwrite: bool = False, progress: bool = True,
                   log: Log = report, max_seconds: float | None = MAX_SECONDS) -> JobSummary:
    """Write ``output_dir/<id>.npy`` features ``(samples // hop, dim)`` for every utterance.

    Resumable: utterances whose file exists are skipped (unless ``overwrite``); files are
    written atomically, so an existing file is complete. A bad item (unreadable or too short
    audio, features that overflow ``save_dtype``) is reported through ``log`` and skipped.
    Audio is read and extracted in batches of about ``batch_seconds``; a file longer than
    ``max_seconds`` is a bad item.

    Raises:
        FeatureFileError: ``output_dir`` holds features made with other settings.
    """
    output_dir = Path(output_dir)
    claim_output_dir(output_dir, FeatureSetInfo(
        kind="features", model=extractor.name, layer=int(layer), dim=extractor.dim,
        sample_rate=extractor.sample_rate, hop_samples=extractor.hop_length, dtype=save_dtype),
        overwrite)
    summary = JobSummary(total=len(utterances))
    todo = [u for u in utterances if overwrite or not output_path(output_dir, u.id).is_file()]
    summary.skipped = len(utterances) - len(todo)
    if summary.skipped:
        log(f"{summary.skipped} of {len(utterances)} utterance(s) already have features in "
            f"{output_dir}; skipping them")
    budget = batch_seconds * extractor.sample_rate
    with progress_bar(len(todo), "features", progress) as bar:
        batch: list[tuple[Utterance, Tensor]] = []
        for utt in _chain(todo):
            if utt is not None:
                try:
                    batch.append((utt, load_for_extractor(extractor, utt, max_seconds)))
                except (AudioError, ValueError, OSError) as exc:
                    summary.fail(utt, error_text(exc), log)
                    bar.update(1)
                if sum(w.shape[0] for _, w in batch) < budget:
                    continue
            if batch:
                feats = extract_aligned(extractor, [w for _, w in batch], layer)
                for (item, _), f in zip(batch, feats):
                    try:
                        write_features(output_path(output_dir, item.id), f, save_dtype)
                        summary.written += 1
                    except (FeatureFileError, OutputError, OSError) as exc:
                        summary.fail(item, error_text(exc), log)
                    bar.update(1)
                batch = []
    return summary


def _chain(items: Iterable[Utterance]) -> Iterable[Utterance | None]:
    """``items`` then one ``None`` (the signal to flush the last batch)."""
    yield from items
    yield None


__all__ = ["FEATURE_SUFFIXES", "INFO_NAME", "FeatureFileError", "FeatureSetInfo", "JobSummary",
           "aligned_frames", "claim_output_dir", "error_text", "extract_aligned", "extract_corpus",
           "feature_shape", "find_feature_file", "frames_for_audio", "load_for_extractor",
           "output_path", "progress_bar", "read_features", "read_info", "report", "write_features"]
