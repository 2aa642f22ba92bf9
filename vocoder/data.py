"""Training data: file lists, a checked inventory of utterances, segment datasets, and a
deterministic per-epoch batch order that a resumed run can continue exactly.

Three kinds of input, one :class:`DataSpec` each:

``audio``
    the published recipe: the input mel is computed from the audio segment itself (on the
    training device). The whole utterance is peak-normalised to 0.95 first, as published.
``mels``
    fine-tuning: ``<id>.npy`` mels predicted by a TTS model, ``(num_mels, frames)`` or
    ``(1, num_mels, frames)``; the target is the real audio, not normalised (as published).
``features``
    feature vocoders (kNN-VC): ``<id>.npy`` or ``<id>.pt`` arrays of shape
    ``(frames, dim)`` or ``(1, frames, dim)`` - the layout SSL models emit - one frame per
    ``prod(upsample_rates)`` samples; audio not normalised.

For ``mels`` and ``features`` (frame inputs), an utterance has ``min(frames,
samples // hop)`` usable frames: the longer side is cut. A file whose frame count differs
from ``samples // hop`` by more than ``max_frame_mismatch`` (default 2) is reported and
skipped (its frames were probably made from other audio or at another rate).

Short and bad files: in ``audio`` mode a file shorter than a segment is zero-padded at the
end (as published); with frame inputs it is skipped, because there is no honest value to
pad predicted mels or features with. A missing, unreadable or wrongly shaped file is
reported with its path and skipped; if one fails only when read during training, the
next file in the epoch's order is used instead and the path is reported.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Literal, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from .audio import AUDIO_EXTENSIONS, MAX_SECONDS, AudioError, audio_info, list_audio, load_audio
from .config import ConfigError, HiFiGANConfig
from .errors import InputError, shown
from .frames import native_float
from .safeload import MAX_FEATURE_FILE_BYTES, torch_load

Mode = Literal["audio", "mels", "features"]
FEATURE_SUFFIXES = (".npy", ".pt")
NORMALIZE_PEAK = 0.95
MAX_SUBSTITUTES = 16


def report(message: str) -> None:
    """Print a data problem on stderr (through tqdm, so a progress bar stays intact)."""
    try:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)
    except Exception:  # pragma: no cover - tqdm is a dependency
        print(message, file=sys.stderr)


# ------------------------------------------------------------------------------ file lists

def read_file_list(path: str | os.PathLike, wavs_dir: str | os.PathLike | None = None
                   ) -> list[Path]:
    """Audio paths from an LJSpeech-style list: one ``id|text...`` line per utterance.

    Only the part before the first ``|`` is used. An entry with an audio extension or a
    ``/`` is a path (relative to the list's directory unless absolute); a bare id means
    ``<wavs_dir>/<id>.wav``, with ``wavs_dir`` defaulting to ``wavs/`` beside the list (the
    LJSpeech-1.1 layout). Blank lines and lines starting with ``#`` are ignored.

    Raises:
        ConfigError: the list is missing or names no files.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file list not found")
    base = path.parent
    wavs = Path(wavs_dir) if wavs_dir is not None else base / "wavs"
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = line.split("|", 1)[0].strip()
        if not entry or entry.startswith("#"):
            continue
        if entry.lower().endswith(AUDIO_EXTENSIONS) or "/" in entry:
            p = Path(entry)
            out.append(p if p.is_absolute() else base / p)
        else:
            out.append(wavs / f"{entry}.wav")
    if not out:
        raise ConfigError(f"{path}: file list names no utterances (expected 'id|text' lines)")
    return out


def collect_audio(directory: str | os.PathLike | None = None, file_list: str | os.PathLike | None = None,
                  wavs_dir: str | os.PathLike | None = None, what: str = "training") -> list[Path]:
    """Audio files of a directory, or of a file list (see :func:`read_file_list`)."""
    if file_list is not None:
        return read_file_list(file_list, wavs_dir if wavs_dir is not None else directory)
    if directory is None:
        raise ConfigError(f"no {what} data: give a directory of audio or a file list")
    d = Path(directory)
    if not d.is_dir():
        raise ConfigError(f"{d}: {what} audio directory not found")
    files = list_audio(d)
    if not files:
        raise ConfigError(f"{d}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in the {what} "
                          "directory")
    return files


# ------------------------------------------------------------------------------- data spec

@dataclass
class DataSpec:
    """What one training example is.

    Attributes:
        mode: ``audio``, ``mels`` or ``features``.
        sample_rate: audio is read (and resampled) at this rate.
        hop: samples per input frame (``prod(upsample_rates)``).
        channels: mels, or feature dim.
        segment_frames: input frames per training segment.
        frames_dir: directory of ``<id>.npy`` / ``<id>.pt`` frame files (frame inputs only).
        max_frame_mismatch: tolerated ``|frames - samples // hop|``.
    """

    mode: Mode
    sample_rate: int
    hop: int
    channels: int
    segment_frames: int
    frames_dir: Path | None = None
    max_frame_mismatch: int = 2

    @property
    def segment_samples(self) -> int:
        return self.segment_frames * self.hop

    @classmethod
    def from_config(cls, config: HiFiGANConfig, mels_dir: str | os.PathLike | None = None,
                    features_dir: str | os.PathLike | None = None,
                    max_frame_mismatch: int = 2, source: str = "config") -> "DataSpec":
        """Check that the config can be trained with these inputs and describe the examples.

        Raises:
            ConfigError: the config does not describe a vocoder (see
                :meth:`HiFiGANConfig.validate`), the segment is not a whole number of frames,
                or the inputs do not suit the vocoder kind.
        """
        config.validate(source)
        gen, audio = config.generator, config.audio
        hop = gen.upsample_factor
        seg = config.train.segment_size
        if config.is_feature_vocoder:
            if mels_dir is not None:
                raise ConfigError(f"{source} describes a feature-input vocoder (hubert_dim="
                                  f"{gen.input_dim}): it trains from feature files, not mels",
                                  key="input_features_dir")
            if features_dir is None:
                raise ConfigError(f"{source} describes a feature-input vocoder (hubert_dim="
                                  f"{gen.input_dim}): training needs a directory of <id>.npy/.pt "
                                  "feature files of shape (frames, dim)", key="input_features_dir")
            mode: Mode = "features"
            frames_dir = Path(features_dir)
        else:
            if features_dir is not None:
                raise ConfigError(f"{source} describes a mel vocoder; training from feature files "
                                  "needs a config with 'hubert_dim' and 'hifi_dim'",
                                  key="input_features_dir")
            mode = "mels" if mels_dir is not None else "audio"
            frames_dir = Path(mels_dir) if mels_dir is not None else None
        if seg <= 0 or seg % hop:
            raise ConfigError(f"{source}: 'segment_size' {seg} must be a positive multiple of the "
                              f"{hop} samples per input frame (prod(upsample_rates))",
                              key="segment_size")
        if frames_dir is not None and not frames_dir.is_dir():
            raise ConfigError(f"{frames_dir}: input {mode} directory not found")
        if max_frame_mismatch < 0:
            raise ConfigError(f"'max_frame_mismatch' must be >= 0, got {max_frame_mismatch}",
                              key="max_frame_mismatch")
        return cls(mode=mode, sample_rate=audio.sampling_rate, hop=hop,
                   channels=config.input_channels, segment_frames=seg // hop,
                   frames_dir=frames_dir, max_frame_mismatch=max_frame_mismatch)


# ------------------------------------------------------------------------- frames files

def frames_path(spec: DataSpec, audio: Path) -> Path | None:
    """The mel/feature file for an audio file, or ``None`` if there is none."""
    assert spec.frames_dir is not None
    suffixes = (".npy",) if spec.mode == "mels" else FEATURE_SUFFIXES
    for suffix in suffixes:
        p = spec.frames_dir / f"{audio.stem}{suffix}"
        if p.is_file():
            return p
    return None


def _frames_layout(spec: DataSpec) -> str:
    return (f"({spec.channels}, frames) or (1, {spec.channels}, frames)" if spec.mode == "mels"
            else f"(frames, {spec.channels}) or (1, frames, {spec.channels})")


def _frames_count(spec: DataSpec, path: Path, shape: Sequence[int]) -> int:
    """Number of frames of an array of ``shape``; InputError naming the layout if wrong."""
    shape = tuple(int(s) for s in shape)
    core = shape[1:] if len(shape) == 3 and shape[0] == 1 else shape
    c = spec.channels
    if len(core) == 2:
        if spec.mode == "mels" and core[0] == c:
            return core[1]
        if spec.mode == "features" and core[1] == c:
            return core[0]
    hint = ""
    if len(core) == 2 and (core[1] if spec.mode == "mels" else core[0]) == c:
        hint = " (it looks transposed)"
    raise InputError(f"{path}: {spec.mode[:-1]} array has shape {shape}, expected "
                     f"{_frames_layout(spec)}{hint}")


def _read_array(path: Path, header_only: bool = False) -> np.ndarray | Tensor:
    if path.suffix == ".pt":  # read safely, never inflated (vocoder.safeload)
        obj = torch_load(path, what="feature file", max_bytes=MAX_FEATURE_FILE_BYTES,
                         mmap=header_only, finite=False)
        if not isinstance(obj, Tensor):
            raise InputError(f"{shown(path)}: expected a tensor, got {type(obj).__name__}")
        return obj
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r" if header_only else None)
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise InputError(f"{shown(path)}: cannot read {path.suffix} file "
                         f"({text[0] if text else exc})") from None
    return arr if header_only else native_float(arr)


def load_frames(spec: DataSpec, path: Path) -> Tensor:
    """Read a mel/feature file as float32 ``(channels, frames)``."""
    arr = _read_array(path)
    _frames_count(spec, path, arr.shape)
    x = torch.as_tensor(np.asarray(arr) if isinstance(arr, np.ndarray) else arr).float()
    if x.dim() == 3:
        x = x[0]
    if spec.mode == "features":
        x = x.t()
    if not torch.isfinite(x).all():
        raise InputError(f"{path}: array contains NaN or infinite values")
    return x.contiguous()


# ------------------------------------------------------------------------------- inventory

@dataclass
class Utterance:
    """One usable training file: its audio, its frames file (frame inputs), and lengths."""

    audio: Path
    frames: Path | None
    samples: int  # at the training sample rate (estimated from the header)
    n_frames: int | None = None  # frames in the frames file


def inventory(files: Sequence[Path], spec: DataSpec, what: str = "training",
              log: Callable[[str], None] = report, for_segments: bool = True) -> list[Utterance]:
    """Check every file from its header (cheap) and keep the usable ones.

    Reports each skipped file with its path and the reason, and a one-line summary.
    ``for_segments=False`` (validation) keeps frame-input utterances shorter than a segment.

    Raises:
        ConfigError: no usable file is left.
    """
    good: list[Utterance] = []
    skipped = padded = 0
    for path in files:
        try:
            frames, sr = audio_info(path)
            if frames == 0:
                raise AudioError(f"{path}: audio file has no samples")
            if frames > MAX_SECONDS * sr:
                raise AudioError(f"{path}: {frames / sr:.1f} s long, more than the "
                                 f"{MAX_SECONDS:g} s a training file may be (split it)")
            samples = frames if sr == spec.sample_rate else math.floor(frames * spec.sample_rate / sr)
            utt = Utterance(path, None, samples)
            if spec.mode != "audio":
                fp = frames_path(spec, path)
                if fp is None:
                    names = (f"{path.stem}.npy" if spec.mode == "mels"
                             else f"{path.stem}.npy or {path.stem}.pt")
                    raise InputError(f"{path}: no {spec.mode[:-1]} file {names} in "
                                     f"{spec.frames_dir}")
                n = _frames_count(spec, fp, _read_array(fp, header_only=True).shape)
                expected = samples // spec.hop
                if abs(n - expected) > spec.max_frame_mismatch:
                    raise InputError(
                        f"{fp}: {n} frames but the audio {path.name} has {samples} samples = "
                        f"{expected} frames of {spec.hop}; more than {spec.max_frame_mismatch} "
                        "frames apart (made from other audio, or at another rate?)")
                usable = min(n, expected)
                if for_segments and usable < spec.segment_frames:
                    raise InputError(f"{path}: {usable} usable frames, shorter than one segment "
                                     f"({spec.segment_frames} frames); skipped")
                if usable == 0:
                    raise InputError(f"{path}: no usable frames")
                utt.frames, utt.n_frames = fp, n
            elif samples < spec.segment_samples:
                padded += 1
            good.append(utt)
        except (AudioError, ValueError, OSError) as exc:
            skipped += 1
            log(f"skipping {what} file: {exc}")
    if skipped or padded:
        parts = [f"{len(good)} of {len(files)} {what} files usable"]
        if skipped:
            parts.append(f"{skipped} skipped (reasons above)")
        if padded:
            parts.append(f"{padded} shorter than a segment ({spec.segment_samples} samples), "
                         "zero-padded")
        log("; ".join(parts))
    if not good:
        raise ConfigError(f"no usable {what} files among {len(files)} (see the messages above)")
    return good


# ------------------------------------------------------------------------------- datasets

def _normalize(wav: np.ndarray) -> np.ndarray:
    peak = float(np.abs(wav).max()) if wav.size else 0.0
    return wav * (NORMALIZE_PEAK / peak) if peak > 1e-8 else wav


def load_example(spec: DataSpec, utt: Utterance) -> tuple[Tensor, Tensor]:
    """A whole utterance: ``(frames (channels, n) or empty, audio (samples,))``.

    Frame inputs come back cut to ``n = min(frames, samples // hop)`` and audio to
    ``n * hop`` samples; in ``audio`` mode the audio is peak-normalised and frames empty.

    Raises:
        AudioError, InputError: the file cannot be used (the message names it).
    """
    wav, _ = load_audio(utt.audio, spec.sample_rate)
    if spec.mode == "audio":
        return torch.empty(0), torch.from_numpy(_normalize(wav).astype(np.float32))
    assert utt.frames is not None
    frames = load_frames(spec, utt.frames)
    expected = len(wav) // spec.hop
    if abs(frames.shape[1] - expected) > spec.max_frame_mismatch:
        raise InputError(f"{utt.frames}: {frames.shape[1]} frames but the audio has {expected}; "
                         f"more than {spec.max_frame_mismatch} apart")
    n = min(frames.shape[1], expected)
    if n == 0:
        raise InputError(f"{utt.audio}: no usable frames")
    return frames[:, :n].contiguous(), torch.from_numpy(wav[: n * spec.hop].copy())


def crop_start(limit: int, seed: int, epoch: int, index: int) -> int:
    """Deterministic random start in ``[0, limit]`` for one item of one epoch."""
    return int(np.random.default_rng([seed, epoch, index]).integers(0, limit + 1))


class SegmentDataset(Dataset):
    """Random fixed-length training segments.

    Indexed by ``(index, epoch)`` keys (see :class:`EpochBatchSampler`), so the crop of each
    item depends only on the seed, the epoch and the index: a resumed run reads the same
    segments in the same order whatever the number of loader workers.

    Items: ``(frames, audio)``: frames ``(channels, segment_frames)`` for frame inputs (empty
    in ``audio`` mode), audio ``(segment_samples,)`` float32.
    """

    def __init__(self, utterances: Sequence[Utterance], spec: DataSpec, seed: int,
                 log: Callable[[str], None] = report) -> None:
        self.utterances = list(utterances)
        self.spec = spec
        self.seed = seed
        self.log = log
        self._reported: set[Path] = set()

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, key: tuple[int, int]) -> tuple[Tensor, Tensor]:
        index, epoch = key
        for attempt in range(MAX_SUBSTITUTES):
            i = (index + attempt) % len(self.utterances)
            utt = self.utterances[i]
            try:
                frames, wav = load_example(self.spec, utt)
                if self.spec.mode != "audio" and frames.shape[1] < self.spec.segment_frames:
                    raise InputError(f"{utt.audio}: {frames.shape[1]} usable frames, shorter "
                                     f"than one segment ({self.spec.segment_frames})")
            except (AudioError, ValueError, OSError) as exc:
                if utt.audio not in self._reported:
                    self._reported.add(utt.audio)
                    self.log(f"skipping training file during training: {exc}; using the next "
                             "file instead")
                continue
            return self._crop(frames, wav, self.seed, epoch, i)
        raise InputError(f"{MAX_SUBSTITUTES} training files in a row could not be read "
                           f"(from {self.utterances[index].audio}); check the data")

    def _crop(self, frames: Tensor, wav: Tensor, seed: int, epoch: int, index: int
              ) -> tuple[Tensor, Tensor]:
        spec = self.spec
        if spec.mode == "audio":
            seg = spec.segment_samples
            if len(wav) >= seg:
                start = crop_start(len(wav) - seg, seed, epoch, index)
                return frames, wav[start:start + seg].clone()
            return frames, torch.nn.functional.pad(wav, (0, seg - len(wav)))
        fps = spec.segment_frames
        start = crop_start(frames.shape[1] - fps, seed, epoch, index)
        return (frames[:, start:start + fps].clone(),
                wav[start * spec.hop:(start + fps) * spec.hop].clone())


class UtteranceDataset(Dataset):
    """Whole utterances for validation and evaluation: ``(frames, audio, path)``.

    Items that fail to load give ``None`` (reported once), which the caller skips.
    """

    def __init__(self, utterances: Sequence[Utterance], spec: DataSpec,
                 log: Callable[[str], None] = report) -> None:
        self.utterances = list(utterances)
        self.spec = spec
        self.log = log
        self._reported: set[Path] = set()

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Path] | None:
        utt = self.utterances[index]
        try:
            frames, wav = load_example(self.spec, utt)
        except (AudioError, ValueError, OSError) as exc:
            if utt.audio not in self._reported:
                self._reported.add(utt.audio)
                self.log(f"skipping validation file: {exc}")
            return None
        if self.spec.mode == "audio":
            n = len(wav) // self.spec.hop
            wav = wav[: n * self.spec.hop]
        return frames, wav, utt.audio


# -------------------------------------------------------------------------------- sampler

class EpochBatchSampler(Sampler[list[tuple[int, int]]]):
    """Per-rank batches of ``(index, epoch)`` keys in a fixed order per epoch.

    Epoch ``e`` uses the permutation ``default_rng([seed, e])`` of all items, padded by
    wrapping to a multiple of ``world_size`` and dealt round-robin to the ranks (each rank
    sees its own shard); each rank's shard is cut into batches of ``batch_size``, an
    incomplete last batch dropped (as published). :meth:`set_epoch` picks the epoch and the
    first batch, so a resumed run continues mid-epoch with the batches it would have seen.
    """

    def __init__(self, n_items: int, batch_size: int, seed: int, rank: int = 0,
                 world_size: int = 1) -> None:
        if n_items <= 0:
            raise ConfigError("no training files")
        self.n_items = n_items
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.start = 0
        if self.batches_per_epoch == 0:
            raise ConfigError(
                f"{n_items} usable training files are fewer than one batch per process "
                f"(batch size {batch_size} x {world_size} processes); add files or lower "
                "the batch size", key="batch_size")

    @property
    def shard_size(self) -> int:
        return math.ceil(self.n_items / self.world_size)

    @property
    def batches_per_epoch(self) -> int:
        return self.shard_size // self.batch_size

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch = epoch
        self.start = start_batch

    def epoch_order(self, epoch: int) -> np.ndarray:
        """This rank's item indices for ``epoch``, in order."""
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.n_items)
        total = self.shard_size * self.world_size
        if total > self.n_items:
            perm = np.concatenate([perm, perm[: total - self.n_items]])
        return perm[self.rank::self.world_size]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = self.epoch_order(self.epoch)
        bs = self.batch_size
        for b in range(self.start, self.batches_per_epoch):
            yield [(int(i), self.epoch) for i in order[b * bs:(b + 1) * bs]]

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch - self.start)


__all__ = ["DataSpec", "EpochBatchSampler", "SegmentDataset", "Utterance", "UtteranceDataset",
           "collect_audio", "crop_start", "frames_path", "inventory", "load_example",
           "load_frames", "read_file_list", "report"]
