"""kNN-VC voice conversion (Baas, van Niekerk and Kamper, 2023): matching sets and kNN regression.

A *matching set* is every frame of a target speaker's reference audio, as SSL features
(WavLM-Large layer 6 in the published system). Conversion replaces each frame of the source
speech with the mean of its ``k`` nearest matching-set frames by cosine distance, and a
feature-input HiFi-GAN turns the result into audio in the target voice.

Silence at the start and end of each reference recording is trimmed by an energy VAD
(:func:`synth.audio.trim_silence`): 25 ms frames whose level is within ``top_db`` (40 dB) of
the loudest frame, and above -60 dBFS, count as speech; everything before the first and after
the last such frame, less a 50 ms margin, is cut. Pauses inside the speech are kept. It needs
no dependency or model weights, is deterministic and works on clips of any length.
The published kNN-VC instead uses SoX's ``vad`` effect (``torchaudio.functional.vad``,
trigger level 7), available here as ``trim="sox"`` for reproducing its matching sets; it is
not the default because it calibrates on the first 0.35 s and keeps nothing before its
trigger point, so it cuts speech: on the LJSpeech files in ``shared/data`` (under 0.1 s of
silence at their ends; the energy VAD cuts 0.02-0.05 s) it removes 0.6-1.05 s per file, and
it returns nothing for a 1 s clip that starts with speech.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch
from torch import Tensor

from vocoder.atomic import save_torch
from vocoder.audio import MAX_SECONDS, AudioError
from vocoder.safeload import MAX_MATCHING_SET_BYTES, TorchFileError, torch_load
from vocoder.chunking import vocode_batched
from vocoder.generator import HiFiGANGenerator, receptive_field_frames
from vocoder.errors import InputError

from .audio import load_input_audio, normalize_loudness, trim_silence
from .defaults import KNNVC_LAYER
from .extraction import FeatureExtractor

MATCHING_SET_FORMAT = "hifisynth.matching_set"
MATCHING_SET_VERSION = 1

AudioSource = Union[str, os.PathLike, Tensor, np.ndarray, tuple[Union[Tensor, np.ndarray], int]]


class MatchingSetError(InputError):
    """A matching set that cannot be read or does not fit the model; the message says why."""


# ---------------------------------------------------------------------- matching sets
@dataclass
class MatchingSet:
    """Concatenated features of a target speaker's reference audio.

    Attributes:
        features: ``(frames, dim)``; stored as float16 on disk.
        model: name of the feature extractor that made them (e.g. ``"WAVLM_LARGE"``).
        layer: transformer layer the features come from (1-based; see :mod:`synth.features`).
        frame_rate: frames per second.
        sources: where the frames came from (file names or ``"<waveform i>"``).
        source_frames: frames contributed by each source, in order.
    """

    features: Tensor
    model: str
    layer: int
    frame_rate: float = 50.0
    sources: list[str] = field(default_factory=list)
    source_frames: list[int] = field(default_factory=list)

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    @property
    def num_frames(self) -> int:
        return int(self.features.shape[0])

    @property
    def seconds(self) -> float:
        """Duration of speech in the set."""
        return self.num_frames / self.frame_rate

    def check(self, model: str, layer: int, dim: int | None = None,
              source: str = "matching set") -> None:
        """Refuse a set made with another model, layer or feature size."""
        problems = []
        if self.model != model:
            problems.append(f"model {self.model!r} (expected {model!r})")
        if self.layer != layer:
            problems.append(f"layer {self.layer} (expected {layer})")
        if dim is not None and self.dim != dim:
            problems.append(f"{self.dim}-dim features (expected {dim})")
        if problems:
            raise MatchingSetError(f"{source}: made with {', '.join(problems)}; rebuild it from "
                                   "the reference audio with the model and layer in use")

    def save(self, path: str | os.PathLike) -> None:
        """Write the set (float16 features, model, layer, sources) atomically."""
        half = self.features.detach().to("cpu", torch.float16).contiguous()
        if not torch.isfinite(half).all():
            raise MatchingSetError(f"{path}: features overflow float16 (|x| > 65504); "
                                   "cannot store this matching set")
        payload = {
            "format": MATCHING_SET_FORMAT, "version": MATCHING_SET_VERSION,
            "features": half, "model": self.model, "layer": int(self.layer),
            "dim": self.dim, "frame_rate": float(self.frame_rate),
            "sources": [str(s) for s in self.sources],
            "source_frames": [int(n) for n in self.source_frames],
        }
        save_torch(path, payload)

    @classmethod
    def load(cls, path: str | os.PathLike, *, model: str | None = None,
             layer: int | None = None, dim: int | None = None) -> "MatchingSet":
        """Read a set written by :meth:`save`; with ``model``/``layer``/``dim`` given, a set
        made differently is refused with :class:`MatchingSetError`.

        Features are returned as float16 ``(frames, dim)`` on the CPU.
        """
        path = Path(path)
        if not path.is_file():
            raise MatchingSetError(f"{path}: matching set file not found")
        try:  # read safely, never inflated (vocoder.safeload)
            data = torch_load(path, what="matching set", max_bytes=MAX_MATCHING_SET_BYTES)
        except TorchFileError as exc:
            raise MatchingSetError(str(exc)) from None
        if not isinstance(data, dict) or data.get("format") != MATCHING_SET_FORMAT:
            raise MatchingSetError(f"{path}: not a hifisynth matching set")
        if data.get("version") != MATCHING_SET_VERSION:
            raise MatchingSetError(f"{path}: matching set version {data.get('version')!r} is not "
                                   f"supported (expected {MATCHING_SET_VERSION})")
        feats = data.get("features")
        if not isinstance(feats, Tensor) or feats.dim() != 2 or feats.shape[1] != data.get("dim"):
            raise MatchingSetError(f"{path}: features must be (frames, dim={data.get('dim')}), got "
                                   f"{tuple(feats.shape) if isinstance(feats, Tensor) else feats!r}")
        out = cls(features=feats, model=str(data["model"]), layer=int(data["layer"]),
                  frame_rate=float(data["frame_rate"]), sources=list(data.get("sources", [])),
                  source_frames=list(data.get("source_frames", [])))
        if model is not None or layer is not None or dim is not None:
            out.check(out.model if model is None else model,
                      out.layer if layer is None else layer, dim, source=str(path))
        return out


def _load_source(source: AudioSource, sample_rate: int, index: int,
                 max_seconds: float | None = MAX_SECONDS) -> tuple[Tensor, str]:
    """Mono float32 ``(samples,)`` at ``sample_rate`` and a name for messages; a bare
    waveform is taken to be at ``sample_rate`` (see :func:`synth.audio.load_input_audio`)."""
    name = str(source) if isinstance(source, (str, os.PathLike)) else f"<waveform {index}>"
    try:
        wav, _ = load_input_audio(source, sample_rate, target_rate=sample_rate, what=name,
                                  max_seconds=max_seconds)
    except AudioError as exc:
        if isinstance(source, (str, os.PathLike)):
            raise
        raise MatchingSetError(str(exc)) from None
    return torch.from_numpy(wav), name


def build_matching_set(extractor: FeatureExtractor, sources: Sequence[AudioSource],
                       layer: int = KNNVC_LAYER, *, trim: str = "energy",
                       top_db: float = 40.0, batch_seconds: float = 120.0,
                       max_seconds: float | None = MAX_SECONDS) -> MatchingSet:
    """Features of one or more reference recordings of the target speaker, concatenated.

    Args:
        extractor: feature extractor (its name is recorded in the set).
        sources: audio files, mono waveforms ``(samples,)`` at the extractor's rate, or
            ``(waveform, sample_rate)`` pairs.
        layer: transformer layer (kNN-VC: 6 of WavLM-Large).
        trim: silence trimming at both ends: ``"energy"``, ``"sox"`` or ``"none"`` (see
            :func:`synth.audio.trim_silence`).
        top_db: energy VAD threshold below the loudest frame (dB).
        batch_seconds: audio loaded at once; sources are read and extracted in groups of
            about this much (long files are still cut into windows by the extractor).
        max_seconds: longest file read (``None``: no limit).

    Returns:
        :class:`MatchingSet` with float32 features on the extractor's device.
    """
    if len(sources) == 0:
        raise MatchingSetError("a matching set needs at least one reference recording")
    rate = extractor.sample_rate
    feats: list[Tensor] = []
    names: list[str] = []
    group: list[Tensor] = []
    seconds = 0.0

    def flush() -> None:
        nonlocal group, seconds
        if group:
            feats.extend(extractor.extract_list(group, layer))
        group, seconds = [], 0.0

    for i, source in enumerate(sources):
        wav, name = _load_source(source, rate, i, max_seconds)
        trimmed = trim_silence(wav, rate, trim, top_db=top_db)
        if trimmed.shape[0] < extractor.receptive_field:
            raise MatchingSetError(
                f"{name}: no speech left after trimming silence (trim={trim!r}, "
                f"{trimmed.shape[0]} samples left); check the file, or use trim='none'")
        if group and seconds + trimmed.shape[0] / rate > batch_seconds:
            flush()
        group.append(trimmed)
        names.append(name)
        seconds += trimmed.shape[0] / rate
    flush()
    return MatchingSet(features=torch.cat(feats), model=extractor.name, layer=layer,
                       frame_rate=extractor.frame_rate, sources=names,
                       source_frames=[f.shape[0] for f in feats])


# ---------------------------------------------------------------------- kNN regression
def cosine_distance(query: Tensor, keys: Tensor) -> Tensor:
    """Cosine distance ``1 - cos`` between rows: ``(n, dim), (m, dim) -> (n, m)``.

    Computed like the published kNN-VC (the dot product recovered from squared Euclidean
    distances), so the same inputs rank neighbours the same way, near-ties included.
    """
    q_norm = query.norm(dim=-1)
    k_norm = keys.norm(dim=-1)
    squared = torch.cdist(query[None], keys[None])[0] ** 2
    dot = (-squared + q_norm[:, None] ** 2 + k_norm[None] ** 2) / 2
    return 1 - dot / (q_norm[:, None] * k_norm[None]).clamp_min(1e-12)


def knn_regress(query: Tensor, matching_set: Tensor | MatchingSet, k: int = 4, *,
                synth_set: Tensor | None = None, max_memory_mb: float = 256.0) -> Tensor:
    """Replace each query frame by the mean of its ``k`` nearest matching-set frames.

    Nearness is cosine distance; the mean is taken over the same frames of ``synth_set``
    (default: the matching set itself). Equal to the published kNN-VC matcher
    (cosine distance, ``topk(largest=False)``, mean) on the same inputs; the query is
    processed in chunks so the distance matrix never exceeds ``max_memory_mb``.

    Args:
        query: ``(frames, dim)`` source features.
        matching_set: ``(n, dim)`` target features (any float dtype), or a :class:`MatchingSet`.
        k: neighbours to average (kNN-VC: 4).
        synth_set: ``(n, dim)`` features to average instead of the matching set's own.
        max_memory_mb: budget for one chunk's distance matrices.

    Returns:
        ``(frames, dim)`` in the query's float dtype (at least float32), on the query's device.
    """
    keys = matching_set.features if isinstance(matching_set, MatchingSet) else matching_set
    if query.dim() != 2 or keys.dim() != 2 or query.shape[1] != keys.shape[1]:
        raise ValueError(f"query (frames, dim) and matching set (n, dim) must share dim; got "
                         f"{tuple(query.shape)} and {tuple(keys.shape)}")
    values = keys if synth_set is None else synth_set
    if values.shape != keys.shape:
        raise ValueError(f"synth_set must have the matching set's shape {tuple(keys.shape)}, "
                         f"got {tuple(values.shape)}")
    if isinstance(k, bool) or not 1 <= int(k) <= keys.shape[0]:
        raise ValueError(f"k must be in 1..{keys.shape[0]} (matching-set frames), got {k}")
    dtype = torch.promote_types(query.dtype, torch.float32)
    device = query.device
    query = query.to(dtype)
    keys = keys.to(device=device, dtype=dtype)
    values = keys if synth_set is None else values.to(device=device, dtype=dtype)
    # Per query row: cdist output, squared distances, dot products and distances (~4 rows of
    # n values) and the k gathered neighbours.
    row_bytes = (4 * keys.shape[0] + int(k) * keys.shape[1]) * keys.element_size()
    rows = max(1, int(max_memory_mb * 2**20 // row_bytes))
    out = torch.empty_like(query)
    with torch.no_grad():
        for a in range(0, query.shape[0], rows):
            dist = cosine_distance(query[a:a + rows], keys)
            nearest = dist.topk(k=int(k), dim=-1, largest=False).indices
            out[a:a + rows] = values[nearest].mean(dim=1)
    return out


# ---------------------------------------------------------------------- conversion
@dataclass
class KnnVCConfig:
    """Settings of a :class:`KnnVC` converter (defaults: the published kNN-VC).

    Attributes:
        layer: transformer layer of the features (1-based).
        k: neighbours averaged per frame.
        trim: silence trimming of reference recordings: ``"energy"``, ``"sox"`` (as the
            published kNN-VC) or ``"none"``; see :func:`synth.audio.trim_silence`.
        top_db: energy VAD threshold below the loudest frame (dB).
        target_loudness: output loudness in LUFS (ITU-R BS.1770); ``None`` = no normalisation.
        vocoder_chunk_frames: frames vocoded per pass (memory stays bounded for long queries;
            each pass has the generator's receptive field as context, so the output is the
            same as one pass over everything).
        knn_memory_mb: distance-matrix budget of :func:`knn_regress`.
        max_audio_seconds: longest source or reference file read (``None``: no limit).
    """

    layer: int = KNNVC_LAYER
    k: int = 4
    trim: str = "energy"
    top_db: float = 40.0
    target_loudness: float | None = -16.0
    vocoder_chunk_frames: int = 1500
    knn_memory_mb: float = 256.0
    max_audio_seconds: float | None = MAX_SECONDS


class KnnVC:
    """Any-to-any voice conversion: source audio + target matching set -> target-voice audio.

    Args:
        extractor: SSL feature extractor (WavLM-Large for the published vocoder).
        vocoder: feature-input HiFi-GAN generator (``lin_pre``), taking ``extractor.dim``
            features; kept on its own device.
        sample_rate: the vocoder's output rate; default ``extractor.frame_rate`` times the
            generator's upsampling factor (16000 for kNN-VC).
        config: layer, k, trimming, loudness and memory settings.
    """

    def __init__(self, extractor: FeatureExtractor, vocoder: HiFiGANGenerator,
                 sample_rate: int | None = None, config: KnnVCConfig | None = None) -> None:
        self.extractor = extractor
        self.vocoder = vocoder.eval()
        self.config = config or KnnVCConfig()
        gen = vocoder.config
        if gen.input_dim is None:
            raise ValueError("kNN-VC needs a feature-input vocoder (with lin_pre / input_dim); "
                             "this generator takes mel spectrograms")
        if gen.input_dim != extractor.dim:
            raise ValueError(f"vocoder takes {gen.input_dim}-dim features but {extractor.name} "
                             f"gives {extractor.dim}-dim features")
        expected = extractor.frame_rate * gen.upsample_factor
        if sample_rate is not None and not math.isclose(sample_rate, expected):
            raise ValueError(f"vocoder sample rate {sample_rate} Hz does not match "
                             f"{extractor.frame_rate:g} frames/s x {gen.upsample_factor} samples "
                             f"per frame = {expected:g} Hz")
        self.sample_rate = int(round(expected))
        if not 1 <= self.config.layer <= extractor.num_layers:
            raise ValueError(f"layer must be in 1..{extractor.num_layers}, got {self.config.layer}")

    def build_matching_set(self, sources: Sequence[AudioSource]) -> MatchingSet:
        """Matching set of reference recordings (see :func:`build_matching_set`)."""
        return build_matching_set(self.extractor, sources, self.config.layer,
                                  trim=self.config.trim, top_db=self.config.top_db,
                                  max_seconds=self.config.max_audio_seconds)

    def query_features(self, source: AudioSource) -> Tensor:
        """Features ``(frames, dim)`` of the source speech (not trimmed, as in kNN-VC)."""
        wav, _ = _load_source(source, self.extractor.sample_rate, 0,
                              self.config.max_audio_seconds)
        return self.extractor.extract_list([wav], self.config.layer)[0]

    def vocode(self, features: Tensor) -> Tensor:
        """Features ``(frames, dim)`` -> waveform ``(frames * upsample_factor,)`` float32, CPU.

        Long inputs are vocoded in chunks with the generator's receptive field as context
        (:func:`vocoder.chunking.vocode_batched`), the same samples as one pass.
        """
        param = next(self.vocoder.parameters())
        with torch.no_grad():
            (wav,) = vocode_batched(lambda x: self.vocoder(x).squeeze(1), [features.T],
                                    hop=self.vocoder.config.upsample_factor,
                                    context=receptive_field_frames(self.vocoder.config) + 1,
                                    pad_value=None,
                                    chunk_frames=max(1, self.config.vocoder_chunk_frames),
                                    device=param.device, dtype=param.dtype)
        return wav.float().cpu()

    def convert_features(self, query: Tensor, matching_set: Tensor | MatchingSet,
                         k: int | None = None) -> np.ndarray:
        """Query features ``(frames, dim)`` -> converted audio ``(frames * hop,)`` float32."""
        if isinstance(matching_set, MatchingSet):
            matching_set.check(self.extractor.name, self.config.layer, self.extractor.dim)
        matched = knn_regress(query, matching_set, self.config.k if k is None else k,
                              max_memory_mb=self.config.knn_memory_mb)
        wav = self.vocode(matched).numpy()
        if self.config.target_loudness is not None:
            wav = normalize_loudness(wav, self.sample_rate, self.config.target_loudness)
        return wav

    def convert(self, source: AudioSource, matching_set: Tensor | MatchingSet,
                k: int | None = None) -> np.ndarray:
        """Convert source speech into the matching set's voice.

        Args:
            source: audio file, mono waveform ``(samples,)`` at 16 kHz, or
                ``(waveform, sample_rate)``.
            matching_set: target speaker's set (refused if made with another model/layer).
            k: neighbours; default ``config.k``.

        Returns:
            float32 ``(frames * upsample_factor,)`` at :attr:`sample_rate`, loudness-normalised
            to ``config.target_loudness`` unless that is ``None``; ``frames`` is the number of
            feature frames of the source (``(samples - 400) // 320 + 1`` at 16 kHz).
        """
        return self.convert_features(self.query_features(source), matching_set, k)
