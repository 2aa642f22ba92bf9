"""Prematching (kNN-VC): training features rewritten as kNN averages of the same speaker.

A feature vocoder for kNN-VC is best trained on the kind of input it gets at conversion time:
not an utterance's own features but, frame by frame, the mean of the ``k`` nearest frames of
*other* speech by the same speaker. Prematching makes those inputs: for each utterance, its
features are replaced by :func:`synth.knnvc.knn_regress` (cosine distance, mean of the
``k = 4`` nearest) against a matching pool made of all the other utterances of its speaker -
never the utterance itself, never another speaker. The target audio stays the utterance's
own, so the vocoder learns to make clean speech from matched features.

Memory
    A speaker's pool is held in memory (``frames x dim x 4`` bytes: 370 MB for 30 minutes of
    1024-dim features; twice that while matching, the pool without the query being a copy)
    and the kNN search is chunked over the query frames (``knn_memory_mb``). A speaker with more than ``pool_minutes`` of speech is split into
    ``ceil(minutes / pool_minutes)`` groups (at most one per two utterances) by dealing its
    utterances, sorted by id, round-robin; each utterance is matched against the other
    utterances of its own group. Memory and time then grow linearly with the amount of speech
    per speaker instead of quadratically. ``pool_minutes=None`` never splits. The default, 30
    minutes, keeps whole LibriSpeech speakers (about 25 minutes each) in one pool; kNN-VC's
    matching quality saturates at a few minutes of reference.

The features come from per-utterance files (:mod:`synth.featurefiles`, ``synth features``)
or are extracted on the fly, a pool at a time.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import torch
from torch import Tensor

from vocoder.audio import AudioError, audio_info

from .corpus import Utterance, by_speaker
from .extraction import FeatureExtractor
from .featurefiles import (FeatureFileError, FeatureSetInfo, JobSummary, Log, claim_output_dir,
                           error_text, extract_aligned, feature_shape, find_feature_file,
                           frames_for_audio, load_for_extractor, output_path, progress_bar,
                           read_features, read_info, report, write_features)
from .knnvc import knn_regress

DEFAULT_K = 4
DEFAULT_POOL_MINUTES = 30.0


@dataclass
class PrematchConfig:
    """Settings of a prematching run.

    Attributes:
        k: neighbours averaged per frame (kNN-VC: 4).
        pool_minutes: most speech per matching pool before a speaker is split into groups
            (see the module docstring); ``None`` = never split.
        knn_memory_mb: distance-matrix budget of one kNN chunk.
        save_dtype: ``"float16"`` or ``"float32"`` output files.
    """

    k: int = DEFAULT_K
    pool_minutes: float | None = DEFAULT_POOL_MINUTES
    knn_memory_mb: float = 256.0
    save_dtype: str = "float16"

    def validate(self) -> "PrematchConfig":
        if isinstance(self.k, bool) or int(self.k) < 1:
            raise ValueError(f"k must be a positive integer, got {self.k!r}")
        if self.pool_minutes is not None and not self.pool_minutes > 0:
            raise ValueError(f"pool_minutes must be positive (or None), got {self.pool_minutes}")
        return self


# ---------------------------------------------------------------------- the method
def pool_groups(frames: Sequence[int], max_frames: int | None) -> list[list[int]]:
    """Split one speaker's utterances into matching pools of about ``max_frames`` frames.

    Args:
        frames: frames of each utterance, in a fixed order (utterances sorted by id).
        max_frames: most frames per pool; ``None`` = one pool.

    Returns:
        Lists of indices into ``frames``: ``g = min(ceil(total / max_frames), n // 2)``
        groups (at least one), utterance ``i`` in group ``i % g``, so every group of a
        speaker with two or more utterances has at least two.
    """
    n = len(frames)
    if n == 0:
        return []
    groups = 1
    if max_frames is not None:
        groups = max(1, min(math.ceil(sum(frames) / max(1, max_frames)), n // 2))
    return [list(range(g, n, groups)) for g in range(groups)]


def prematch_pool(features: Sequence[Tensor], k: int = DEFAULT_K,
                  which: Sequence[int] | None = None, *,
                  max_memory_mb: float = 256.0) -> dict[int, Tensor]:
    """kNN-match utterances against the other utterances of their pool.

    Args:
        features: ``(frames_i, dim)`` features of the utterances of one pool (one speaker).
        k: neighbours averaged per frame.
        which: indices of the utterances to match (default: all).
        max_memory_mb: distance-matrix budget of :func:`synth.knnvc.knn_regress`.

    Returns:
        ``{i: (frames_i, dim)}``: for every frame of utterance ``i``, the mean of its ``k``
        nearest frames (cosine distance) among all frames of the utterances ``j != i``.

    Raises:
        ValueError: fewer than two utterances, or fewer than ``k`` frames in a pool.
    """
    if len(features) < 2:
        raise ValueError(f"prematching needs at least two utterances per pool, got "
                         f"{len(features)}")
    out = {}
    for i in (range(len(features)) if which is None else which):
        others = torch.cat([f for j, f in enumerate(features) if j != i])
        if others.shape[0] < k:
            raise ValueError(f"the other utterances have {others.shape[0]} frames, fewer than "
                             f"k = {k}")
        out[i] = knn_regress(features[i], others, k, max_memory_mb=max_memory_mb)
    return out


# ---------------------------------------------------------------------- feature sources
class FeatureSource(Protocol):
    """Where prematching gets each utterance's features."""

    def frames(self, utt: Utterance) -> int:
        """Frames of the utterance (cheap: from a header); raises on a bad item."""

    def load(self, utts: Sequence[Utterance]) -> list[Tensor | Exception]:
        """Float32 ``(frames, dim)`` per utterance, or the exception that made it unusable."""

    def info(self) -> dict:
        """``model``, ``layer``, ``dim``, ``sample_rate``, ``hop_samples`` and ``source``."""


class FeatureFiles:
    """Features from ``<id>.npy`` / ``<id>.pt`` files in ``directory`` (``synth features``).

    Args:
        directory: the feature files; its ``features.json`` (if any) says how they were made.
        device: where the features are put for matching.
    """

    def __init__(self, directory: str | os.PathLike, device: str | torch.device = "cpu") -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FeatureFileError(f"{self.directory}: features directory not found")
        self.device = torch.device(device)
        self.made = read_info(self.directory)
        if self.made is not None and self.made.kind != "features":
            raise FeatureFileError(f"{self.directory}: holds {self.made.kind} features; give the "
                                   "directory written by 'synth features'")
        self.dim = self.made.dim if self.made is not None else None

    def _path(self, utt: Utterance) -> Path:
        path = find_feature_file(self.directory, utt.id)
        if path is None:
            raise FeatureFileError(f"no feature file {utt.id}.npy or {utt.id}.pt in "
                                   f"{self.directory}")
        return path

    def frames(self, utt: Utterance) -> int:
        frames, dim = feature_shape(self._path(utt), self.dim)
        self.dim = dim
        return frames

    def load(self, utts: Sequence[Utterance]) -> list[Tensor | Exception]:
        out: list[Tensor | Exception] = []
        for utt in utts:
            try:
                out.append(read_features(self._path(utt), self.dim).to(self.device))
            except (FeatureFileError, OSError) as exc:
                out.append(exc)
        return out

    def info(self) -> dict:
        made = self.made
        return dict(model=made.model if made else None, layer=made.layer if made else None,
                    dim=self.dim, sample_rate=made.sample_rate if made else None,
                    hop_samples=made.hop_samples if made else None, source=str(self.directory))


class ExtractedFeatures:
    """Features extracted from the audio on the fly, one pool at a time
    (:func:`synth.featurefiles.extract_aligned`: ``samples // hop`` frames)."""

    def __init__(self, extractor: FeatureExtractor, layer: int) -> None:
        if not 1 <= int(layer) <= extractor.num_layers:
            raise ValueError(f"layer must be in 1..{extractor.num_layers} for {extractor.name}, "
                             f"got {layer}")
        self.extractor = extractor
        self.layer = int(layer)

    def frames(self, utt: Utterance) -> int:
        samples, rate = audio_info(utt.audio)
        frames = frames_for_audio(self.extractor, samples, rate)
        if frames == 0:
            raise ValueError(f"audio too short: {samples} samples at {rate} Hz is less than one "
                             f"frame ({1000 * self.extractor.hop_length / self.extractor.sample_rate:g} ms)")
        return frames

    def load(self, utts: Sequence[Utterance]) -> list[Tensor | Exception]:
        out: list[Tensor | Exception] = []
        wavs, where = [], []
        for utt in utts:
            try:
                wavs.append(load_for_extractor(self.extractor, utt))
                where.append(len(out))
                out.append(ValueError("not extracted"))
            except (AudioError, ValueError, OSError) as exc:
                out.append(exc)
        if wavs:
            for i, feats in zip(where, extract_aligned(self.extractor, wavs, self.layer)):
                out[i] = feats
        return out

    def info(self) -> dict:
        ex = self.extractor
        return dict(model=ex.name, layer=self.layer, dim=ex.dim, sample_rate=ex.sample_rate,
                    hop_samples=ex.hop_length, source="extracted on the fly")


# ---------------------------------------------------------------------- the job
def prematch_corpus(utterances: Sequence[Utterance], output_dir: str | os.PathLike,
                    source: FeatureSource, config: PrematchConfig | None = None, *,
                    speakers: str = "", overwrite: bool = False, progress: bool = True,
                    log: Log = report) -> JobSummary:
    """Write ``output_dir/<id>.npy``: each utterance's features prematched against the other
    utterances of its speaker (see the module docstring).

    Args:
        utterances: the corpus, every utterance with its speaker.
        output_dir: where the prematched ``(frames, dim)`` files go (not the input directory).
        source: :class:`FeatureFiles` or :class:`ExtractedFeatures`.
        config: k, pool size, memory and output dtype.
        speakers: how speakers were assigned (recorded in ``features.json``).
        overwrite: redo utterances whose output exists (default: skip them, i.e. resume).
        progress: show a progress bar on stderr.
        log: where bad items and notes are reported.

    Bad items - unreadable features or audio, wrong dim, a speaker with one usable
    utterance - are reported and skipped. A speaker whose outputs all exist is not read at
    all, and a pool is only loaded when one of its outputs is missing.

    Raises:
        FeatureFileError: ``output_dir`` is the input directory, or holds features made with
            other settings.
    """
    config = (config or PrematchConfig()).validate()
    output_dir = Path(output_dir)
    if isinstance(source, FeatureFiles) and output_dir.resolve() == source.directory.resolve():
        raise FeatureFileError(f"{output_dir}: the output directory must not be the features "
                               "directory (prematching reads every file of a speaker's pool)")
    summary = JobSummary(total=len(utterances))

    # Plan: every speaker's usable utterances and their frames (headers only), then pools.
    pools: list[tuple[str, list[Utterance]]] = []
    made = source.info()
    frame_rate = (made["sample_rate"] / made["hop_samples"]
                  if made["sample_rate"] and made["hop_samples"] else 50.0)
    max_frames = (None if config.pool_minutes is None
                  else round(config.pool_minutes * 60 * frame_rate))
    done_speakers = 0
    for speaker, utts in by_speaker(utterances).items():
        if not overwrite and all(output_path(output_dir, u.id).is_file() for u in utts):
            done_speakers += len(utts)  # nothing to do: not even its headers are read
            continue
        good, frames = [], []
        for utt in utts:
            try:
                frames.append(source.frames(utt))
                good.append(utt)
            except (AudioError, FeatureFileError, ValueError, OSError) as exc:
                summary.fail(utt, error_text(exc), log)
        if len(good) < 2:
            for utt in good:
                summary.fail(utt, f"speaker '{speaker}' has no other usable utterance to "
                             "match against (prematching needs two or more per speaker)", log)
            continue
        for group in pool_groups(frames, max_frames):
            pools.append((speaker, [good[i] for i in group]))

    made = source.info()  # again: the dim is known once a header has been read
    claim_output_dir(output_dir, FeatureSetInfo(
        kind="prematched", model=made["model"], layer=made["layer"], dim=made["dim"],
        sample_rate=made["sample_rate"], hop_samples=made["hop_samples"],
        dtype=config.save_dtype, k=int(config.k), pool_minutes=config.pool_minutes,
        speakers=speakers or None, source=made["source"]), overwrite)

    todo_total = sum(1 for _, pool in pools for u in pool
                     if overwrite or not output_path(output_dir, u.id).is_file())
    summary.skipped = done_speakers + sum(len(pool) for _, pool in pools) - todo_total
    if summary.skipped:
        log(f"{summary.skipped} utterance(s) already prematched in {output_dir}; skipping them")
    with progress_bar(todo_total, "prematch", progress) as bar:
        for speaker, pool in pools:
            todo = {u.id for u in pool if overwrite or not output_path(output_dir, u.id).is_file()}
            if not todo:
                continue
            usable, feats = [], []
            for utt, loaded in zip(pool, source.load(pool)):
                if isinstance(loaded, Exception):
                    if utt.id in todo:
                        summary.fail(utt, error_text(loaded), log)
                        bar.update(1)
                    else:
                        log(f"note: {utt.where} is left out of the matching pool of speaker "
                            f"'{speaker}': {error_text(loaded)}")
                    continue
                usable.append(utt)
                feats.append(loaded.float())
            which = [i for i, u in enumerate(usable) if u.id in todo]
            if len(usable) < 2:
                for i in which:
                    summary.fail(usable[i], f"speaker '{speaker}' has no other usable "
                                 "utterance in its matching pool", log)
                    bar.update(1)
                continue
            for i in which:
                utt = usable[i]
                try:
                    matched = prematch_pool(feats, config.k, [i],
                                            max_memory_mb=config.knn_memory_mb)[i]
                    write_features(output_path(output_dir, utt.id), matched, config.save_dtype)
                    summary.written += 1
                except (FeatureFileError, ValueError, OSError) as exc:
                    summary.fail(utt, error_text(exc), log)
                bar.update(1)
    return summary


__all__ = ["DEFAULT_K", "DEFAULT_POOL_MINUTES", "ExtractedFeatures", "FeatureFiles",
           "FeatureSource", "PrematchConfig", "pool_groups", "prematch_corpus", "prematch_pool"]
