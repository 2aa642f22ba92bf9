"""hifisynth's web app: text to speech, voice conversion, a vocoder lab and the model cache.

A thin Gradio layer over :class:`synth.pipeline.Synthesizer`::

    python app.py                                  # http://127.0.0.1:7860, device auto
    python app.py --device cpu --port 8000 --vocoder griffinlim
    python app.py --help

Four tabs, each also a named API endpoint for ``gradio_client`` (see ``docs/app.md``):
``/tts`` and ``/mel``, ``/convert``, ``/save_voice``, ``/vocoder`` and ``/vocoder_compare``,
``/models``, ``/download_model``, ``/status``. Audio comes first; mel images and scores
follow in a second, chained event, so they never delay the audio.

How it behaves:

- Models are loaded once (at start-up when they are in the cache) and shared by every
  request; the synthesis events share one queue slot pool (``--concurrency``, default 1)
  so a GPU is never asked to hold two requests' activations at once.
- The app never downloads a model by itself: a model missing from the cache is reported
  with how to get it (the Models tab downloads it, with progress); the other tabs go on.
- Uploads are checked before any model sees them: size (``--max-upload-mb``), duration
  (``--max-seconds``), readability, silence, sample rate; stereo, 8-bit and float files are
  converted and the conversion is reported. Every failure is one readable message.
- Files: the app reads its uploads (Gradio's upload folder, inside the app's temp folder),
  the models it was started with, the registry's cache, ``--models-dir`` and
  ``--voices-dir``. A name typed or sent through the API is looked up only in the registry,
  the models folder and the voices folder, never opened as a path.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import soundfile as sf
import torch

from synth.defaults import (DEFAULT_EXTRACTOR, DEFAULT_MEL_VOCODER, DEFAULT_VC_VOCODER,
                            GRIFFINLIM, NO_VOCODER)
from synth.models import (ModelCache, ModelError, ModelRegistry, ModelUnavailableError,
                          default_home, format_size, offline_from_env)
from synth.pipeline import (PipelineError, SynthResult, Synthesizer, audio_config_of,
                            load_mel_file)
from vocoder.audio import AudioError, load_audio, resample, save_wav
from vocoder.config import AudioConfig, ConfigError
from vocoder.errors import HifisynthError, one_line
from vocoder.mel import MelSpectrogram

ROOT = Path(__file__).resolve().parent
ASSETS = ROOT / "assets"
EXAMPLES = ASSETS / "examples"
LOG = logging.getLogger("hifisynth.app")

PRESETS = ("v1", "v2", "v3")
VOICE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MODEL_FILE_SKIP = {".json", ".txt", ".md", ".yaml", ".yml", ".lock", ".part"}
SILENCE_DBFS = -60.0  # a clip whose peak is below this is treated as silence
MIN_RATE, MAX_RATE = 4000, 192000


class UserError(HifisynthError):
    """Input the app cannot use; the message is shown as it is."""


# =========================================================================== configuration

@dataclass(frozen=True)
class Limits:
    """What one request may send.

    Attributes:
        max_upload_mb: largest uploaded file, in MB (10^6 bytes).
        max_seconds: longest uploaded audio clip, in seconds.
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


@dataclass(frozen=True)
class AppConfig:
    """How the app is started (the command-line options).

    Attributes:
        vocoder, vocoder_config: the default mel vocoder (registry name, checkpoint path,
            ``griffinlim`` or ``none``) and its config for a path.
        vc_vocoder, vc_vocoder_config, extractor, extractor_arch, layer: the voice conversion
            (kNN-VC) models.
        device, dtype: where and how the models run.
        models_dir: extra checkpoints (each with ``config.json`` beside it) offered as
            vocoders; the only folder a vocoder name may point into.
        voices_dir: where saved voices (``<name>.pt``) are kept.
        temp_dir: uploads and outputs (``None``: a new folder under the system temp dir,
            removed at exit).
        concurrency: synthesis requests run at once (``None``: 1).
        queue_size: requests waiting at most; more are refused with a message.
        preload: load the cached models at start-up (else on first use).
    """

    vocoder: str = DEFAULT_MEL_VOCODER
    vocoder_config: str | None = None
    vc_vocoder: str = DEFAULT_VC_VOCODER
    vc_vocoder_config: str | None = None
    extractor: str = DEFAULT_EXTRACTOR
    extractor_arch: str = "WAVLM_LARGE"
    layer: int | None = None
    device: str = "auto"
    dtype: str = "float32"
    models_dir: Path | None = None
    voices_dir: Path | None = None
    temp_dir: Path | None = None
    limits: Limits = field(default_factory=Limits)
    concurrency: int | None = None
    queue_size: int = 64
    preload: bool = True


# =========================================================================== uploads

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


def read_clip(path: str | os.PathLike, what: str, limits: Limits,
              target_rate: int | None = None) -> Clip:
    """Check and read an uploaded audio file.

    Raises :class:`UserError` (naming ``what`` and the file name, never the server's folder)
    for a file too big, unreadable, too long or short, at an unusable sample rate, or
    silent. Stereo is mixed down, 8-bit and float samples are converted, samples beyond
    full scale are scaled down; each conversion adds a note. ``target_rate`` only adds a
    note that the clip will be resampled.
    """
    path = Path(path)
    name = path.name
    label = f"{what} ({name})"
    try:
        size = path.stat().st_size
    except OSError:
        raise UserError(f"{label}: the upload is missing; upload it again") from None
    if size > limits.max_upload_bytes:
        raise UserError(f"{label}: the file is {size / 1e6:.1f} MB; the limit is "
                        f"{limits.max_upload_mb:g} MB")
    if size == 0:
        raise UserError(f"{label}: the file is empty")
    try:
        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - soundfile raises several types for unreadable data
        raise UserError(f"{label}: not an audio file the app can read (corrupt, or not "
                        "WAV/FLAC/OGG/MP3)") from None
    if info.samplerate < MIN_RATE or info.samplerate > MAX_RATE:
        raise UserError(f"{label}: sample rate {info.samplerate} Hz is not usable; speech "
                        f"recordings are {MIN_RATE}-{MAX_RATE} Hz (16000, 22050, 44100, 48000...)")
    duration = info.frames / info.samplerate if info.frames > 0 else 0.0
    if duration > limits.max_seconds:
        raise UserError(f"{label}: {duration:.1f} s long; the limit is {limits.max_seconds:g} s "
                        "(trim the clip)")
    try:
        wav, sr = load_audio(path)
    except AudioError as exc:
        raise UserError(f"{label}: {_strip_path(str(exc), path)}") from None
    seconds = len(wav) / sr
    if seconds > limits.max_seconds:
        raise UserError(f"{label}: {seconds:.1f} s long; the limit is {limits.max_seconds:g} s "
                        "(trim the clip)")
    if seconds < limits.min_seconds:
        raise UserError(f"{label}: only {seconds:.2f} s long; the app needs at least "
                        f"{limits.min_seconds:g} s of speech")
    notes = []
    if info.channels > 1:
        notes.append(f"{label}: {info.channels} channels, mixed down to mono")
    subtype = (info.subtype or "").upper()
    if subtype in ("PCM_U8", "PCM_S8"):
        notes.append(f"{label}: 8-bit samples; their quantisation noise (about -48 dB) is "
                     "carried into the result")
    elif subtype in ("FLOAT", "DOUBLE"):
        notes.append(f"{label}: {'32' if subtype == 'FLOAT' else '64'}-bit float samples, read "
                     "as they are")
    peak = float(np.abs(wav).max())
    if peak <= 10 ** (SILENCE_DBFS / 20):
        level = "no signal at all" if peak == 0 else f"peak {20 * math.log10(peak):.0f} dBFS"
        raise UserError(f"{label}: the clip is silent ({level}); upload or record speech")
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
    return Clip(np.ascontiguousarray(wav, dtype=np.float32), int(sr), name, notes)


def _strip_path(message: str, path: Path) -> str:
    """``message`` with the server-side folder of ``path`` removed."""
    return message.replace(f"{path}: ", "").replace(str(path), path.name)


# =========================================================================== images and scores

# Colour map anchors (dark purple -> orange -> pale yellow), interpolated linearly.
_ANCHORS = np.array([[0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122],
                     [229, 80, 100], [251, 135, 97], [254, 194, 135], [252, 253, 191]],
                    dtype=np.float32)


def mel_image(mel: np.ndarray | torch.Tensor, value_range: tuple[float, float] | None = None,
              max_width: int = 1600, min_width: int = 800, height: int = 160) -> np.ndarray:
    """A log-mel ``(num_mels, frames)`` as an RGB image ``(height', width, 3)`` uint8, low
    frequencies at the bottom. Values map linearly from ``value_range`` (default: the top
    10 nats, about 87 dB, of this mel) onto the colour map. More than ``max_width`` frames
    are averaged down; fewer than ``min_width`` are repeated a whole number of times (width
    ``frames * (min_width // frames)``), so short clips still make a wide picture; each band
    is ``height // num_mels`` pixels tall."""
    m = mel.detach().float().cpu().numpy() if isinstance(mel, torch.Tensor) else np.asarray(mel)
    m = np.asarray(m, dtype=np.float32).reshape(m.shape[-2], m.shape[-1])
    frames = m.shape[1]
    if frames > max_width:
        step = math.ceil(frames / max_width)
        pad = (-frames) % step
        m = np.pad(m, ((0, 0), (0, pad)), mode="edge").reshape(m.shape[0], -1, step).mean(axis=2)
    lo, hi = value_range if value_range is not None else mel_range(m)
    x = np.clip((m[::-1] - lo) / max(hi - lo, 1e-6), 0.0, 1.0) * (len(_ANCHORS) - 1)
    i = np.minimum(x.astype(np.int64), len(_ANCHORS) - 2)
    t = (x - i)[..., None]
    rgb = _ANCHORS[i] * (1 - t) + _ANCHORS[i + 1] * t
    rows = max(1, height // m.shape[0])
    cols = max(1, min_width // m.shape[1])
    return np.repeat(np.repeat(rgb, rows, axis=0), cols, axis=1).round().astype(np.uint8)


def mel_range(*mels: np.ndarray | torch.Tensor) -> tuple[float, float]:
    """A shared colour range for comparing mels: from 10 below the highest value to it."""
    hi = max(float(np.max(np.asarray(m.detach().cpu() if isinstance(m, torch.Tensor) else m)))
             for m in mels)
    return hi - 10.0, hi


def display_mel(wav: np.ndarray, sample_rate: int) -> torch.Tensor:
    """An 80-band log-mel of any audio for display (n_fft 1024, hop 256, up to 8 kHz)."""
    config = AudioConfig(sampling_rate=sample_rate, n_fft=1024, hop_size=256, win_size=1024,
                         num_mels=80, fmin=0.0, fmax=min(8000.0, sample_rate / 2))
    with torch.inference_mode():
        return MelSpectrogram(config)(torch.from_numpy(np.ascontiguousarray(wav, np.float32)))


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
    ``sample_rate``, cut to the shorter), as table rows (see :data:`SCORE_HEADERS`) and
    notes on scores that could not be computed.

    Uses the functions of ``vocoder eval`` (:mod:`vocoder.evaluate`) when that module is
    installed; otherwise only the mel L1 distance, computed with the vocoder's mel frontend.
    """
    config = AudioConfig(sampling_rate=sample_rate, n_fft=1024, hop_size=256, win_size=1024,
                         num_mels=80, fmin=0.0, fmax=min(8000.0, sample_rate / 2),
                         fmax_for_loss=None)
    n = min(len(reference), len(degraded))
    ref, deg = reference[:n], degraded[:n]
    notes: list[str] = []
    try:
        from vocoder import evaluate
    except ImportError:
        mel = MelSpectrogram.for_loss(config)
        with torch.inference_mode():
            a = mel(torch.from_numpy(np.ascontiguousarray(ref, np.float32)))
            b = mel(torch.from_numpy(np.ascontiguousarray(deg, np.float32)))
        values: dict[str, float | None] = {"mel_l1": float((a - b).abs().mean()),
                                           "mrstft": None, "pesq_wb": None, "stoi": None}
        notes.append("MR-STFT, PESQ and STOI come with `vocoder eval` (vocoder.evaluate), "
                     "which this installation lacks")
    else:
        scores = evaluate.score(ref, deg, sample_rate, config, "resynthesis")
        values = {key: getattr(scores, key) for key, *_ in _SCORE_ROWS}
        if scores.notes:
            notes.append(scores.notes)
    rows = [[label, "-" if values[key] is None else round(float(values[key]), 4), better, what]
            for key, label, better, what in _SCORE_ROWS]
    return rows, notes


# =========================================================================== models

class AppModelCache(ModelCache):
    """The app's model cache: it never downloads by itself (a request would hang for
    minutes on a 1 GB file); a missing model says to download it in the Models tab."""

    def download(self, name: str, force: bool = False) -> Path:
        if self.offline:
            return super().download(name, force)  # raises the offline message
        entry = self.registry.get(name)
        path = self.cache_path(name)
        raise ModelUnavailableError(
            f"model '{name}' is not downloaded yet ({entry.kind.replace('_', ' ')}, "
            f"{format_size(entry.size)}): download it in the Models tab, or run "
            f"`synth models download {name}`, or place the file by hand: download "
            f"{' or '.join(entry.urls)} and save it as {path}")


class Engines:
    """The app's synthesizers: the main one (the models the app was started with) and, for
    other mel vocoders picked in the UI, one per vocoder (the ``keep`` most recently used).
    Each loads its models once; all are shared by every request."""

    def __init__(self, config: AppConfig, cache: ModelCache, keep: int = 4) -> None:
        self.config = config
        self.cache = cache
        self.keep = keep
        self.main = Synthesizer(
            config.vocoder, vocoder_config=config.vocoder_config, vc_vocoder=config.vc_vocoder,
            vc_vocoder_config=config.vc_vocoder_config, extractor=config.extractor,
            extractor_arch=config.extractor_arch, layer=config.layer, target_loudness=None,
            device=config.device, dtype=config.dtype, cache=cache)
        self._others: OrderedDict[tuple, Synthesizer] = OrderedDict()
        self._lock = threading.Lock()

    def other(self, key: tuple, build: Callable[[], Synthesizer]) -> Synthesizer:
        """The synthesizer for ``key``, built (and its vocoder loaded) on first use."""
        with self._lock:
            synth = self._others.get(key)
            if synth is not None:
                self._others.move_to_end(key)
                return synth
        synth = build()
        if synth.has_mel_vocoder:
            synth.load("vocoder")  # fails here (not cached) rather than being kept
        with self._lock:
            synth = self._others.setdefault(key, synth)
            self._others.move_to_end(key)
            while len(self._others) > self.keep:
                self._others.popitem(last=False)
        return synth

    def vocoder_synth(self, spec: str) -> Synthesizer:
        """A synthesizer whose mel vocoder is ``spec`` (a registry name, a checked path,
        ``griffinlim`` or ``none``), sharing the main one's device and cache."""
        if spec == self.config.vocoder:
            return self.main
        return self.other(("vocoder", spec), lambda: Synthesizer(
            spec, device=self.main.device, dtype=self.main.dtype, cache=self.cache))

    def uploaded_synth(self, checkpoint: Path, config: str | Path) -> Synthesizer:
        """A synthesizer for an uploaded checkpoint (kept by content, not by file name)."""
        key = ("upload", _sha256(checkpoint),
               _sha256(Path(config)) if str(config) not in PRESETS else str(config))
        return self.other(key, lambda: Synthesizer(
            str(checkpoint), vocoder_config=str(config), device=self.main.device,
            dtype=self.main.dtype, cache=self.cache))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# =========================================================================== the app

class HifisynthApp:
    """What the web UI and the API call: one method per action, each taking the values of
    the UI's inputs (uploads as file paths) and returning the outputs' values. Errors are
    raised as :class:`UserError` (or a library error); :func:`build_ui` turns them into
    messages.

    Args:
        config: models, device, folders and limits.
        registry: model registry (default: ``$HIFISYNTH_REGISTRY`` or the shipped one).
        home: model cache folder (default ``$HIFISYNTH_HOME``).
        offline: never download (default ``$HIFISYNTH_OFFLINE``).
    """

    def __init__(self, config: AppConfig, registry: ModelRegistry | None = None,
                 home: Path | None = None, offline: bool | None = None) -> None:
        self.config = config
        self.limits = config.limits
        self.registry = registry or ModelRegistry.load()
        self.home = Path(home) if home is not None else default_home()
        self.offline = offline_from_env() if offline is None else offline
        self.cache = AppModelCache(self.registry, self.home, offline=self.offline, progress=False)
        self.engines = Engines(config, self.cache)
        self.models_dir = config.models_dir.resolve() if config.models_dir else None
        self.voices_dir = (config.voices_dir or self.home / "voices").resolve()
        temp = config.temp_dir or Path(tempfile.gettempdir()) / "hifisynth-app"
        self.temp_dir = Path(temp).resolve()
        self.outputs_dir = self.temp_dir / "outputs"
        self.output_ttl = 3600.0
        self._last_sweep = 0.0
        self._clock = threading.local()

    @contextmanager
    def timing(self) -> Iterator[None]:
        """Count the time spent inside the block as Synthesizer time of this request (this
        thread); :func:`handler` logs it beside the request's total."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self._clock.seconds = self.synth_seconds() + time.perf_counter() - start

    def synth_seconds(self, reset: bool = False) -> float:
        """Synthesizer time counted on this thread since the last reset."""
        value = getattr(self._clock, "seconds", 0.0)
        if reset:
            self._clock.seconds = 0.0
        return value

    @property
    def synth(self) -> Synthesizer:
        return self.engines.main

    @property
    def concurrency(self) -> int:
        return self.config.concurrency or 1

    # ------------------------------------------------------------------ start-up

    def preload(self) -> list[str]:
        """Load the main models now; returns one line per model that could not be loaded
        (the app still starts: that model's tab reports the problem when used)."""
        problems = []
        for part in ("vocoder", "espeak", "knnvc"):
            if part == "vocoder" and not self.synth.has_mel_vocoder:
                continue
            try:
                self.synth.load(part)
            except Exception as exc:  # noqa: BLE001 - reported, the app still starts
                problems.append(f"{part}: {' '.join(str(exc).split())}")
        return problems

    # ------------------------------------------------------------------ choices

    def vocoder_choices(self) -> list[tuple[str, str]]:
        """Mel vocoders to offer: ``(label, value)``; the value is what the API takes
        (``default`` for the one the app was started with)."""
        default = self.config.vocoder
        choices = [(f"{_display_name(default)} (default)", "default")]
        for entry in self.registry:
            if entry.kind == "mel_vocoder" and entry.name != default:
                choices.append((f"{entry.name} ({self.cache.status(entry.name).state})",
                                entry.name))
        if default != GRIFFINLIM:
            choices.append(("griffinlim (no weights, low quality)", GRIFFINLIM))
        for rel in self.model_files():
            choices.append((f"{rel} (models folder)", rel))
        return choices

    def model_files(self) -> list[str]:
        """Checkpoints in the models folder (with ``config.json`` beside them), relative."""
        if self.models_dir is None or not self.models_dir.is_dir():
            return []
        found = []
        for path in sorted(self.models_dir.rglob("*")):
            rel = path.relative_to(self.models_dir)
            if (len(rel.parts) > 4 or not path.is_file() or path.name.startswith(".")
                    or path.suffix.lower() in MODEL_FILE_SKIP
                    or not (path.parent / "config.json").is_file()):
                continue
            found.append(rel.as_posix())
            if len(found) >= 200:
                break
        return found

    def voice_names(self) -> list[str]:
        """Saved voices (``<voices_dir>/<name>.pt``)."""
        if not self.voices_dir.is_dir():
            return []
        return sorted(p.stem for p in self.voices_dir.glob("*.pt")
                      if p.is_file() and VOICE_NAME.match(p.stem))

    def resolve_vocoder(self, choice: str | None, allow_none: bool = True) -> Synthesizer:
        """The synthesizer for a vocoder choice: the default, a registry mel vocoder,
        ``griffinlim``, ``none`` (text to speech only) or a file in the models folder. Any
        other string is refused; it is never opened as a path."""
        choice = (choice or "").strip()
        if choice in ("", "default", self.config.vocoder):
            return self.synth
        if choice == GRIFFINLIM:
            return self.engines.vocoder_synth(GRIFFINLIM)
        if choice == NO_VOCODER:
            if not allow_none:
                raise UserError("vocoder 'none' only applies to text to speech; choose a vocoder")
            return self.engines.vocoder_synth(NO_VOCODER)
        if choice in self.registry:
            entry = self.registry.get(choice)
            if entry.kind != "mel_vocoder":
                raise UserError(f"model '{choice}' is a {entry.kind.replace('_', ' ')}, not a "
                                "mel vocoder; choose a mel vocoder")
            return self.engines.vocoder_synth(choice)
        path = self._models_dir_file(choice)
        if path is None:
            known = ", ".join(v for _, v in self.vocoder_choices())
            where = (f"a checkpoint in the models folder" if self.models_dir
                     else "a checkpoint in a models folder (the app was started without "
                          "--models-dir)")
            raise UserError(f"unknown vocoder {choice!r}: give a registry name, 'griffinlim' "
                            f"or {where}; available: {known}")
        return self.engines.vocoder_synth(str(path))

    def _models_dir_file(self, name: str) -> Path | None:
        """``name`` as a file inside the models folder, or ``None`` (also for names that
        would leave the folder: absolute paths, ``..``, links pointing out)."""
        if self.models_dir is None or "\x00" in name or Path(name).is_absolute():
            return None
        candidate = (self.models_dir / name).resolve()
        if not candidate.is_relative_to(self.models_dir) or not candidate.is_file():
            return None
        return candidate

    def voice_path(self, name: str | None) -> Path:
        """The saved voice called ``name``; only names listed in the voices folder."""
        name = (name or "").strip()
        if not name:
            raise UserError("choose a saved voice (save one in the Voice conversion tab)")
        if not VOICE_NAME.match(name) or name not in self.voice_names():
            saved = ", ".join(self.voice_names()) or "none yet"
            raise UserError(f"no saved voice called {name!r} (saved voices: {saved})")
        return self.voices_dir / f"{name}.pt"

    # ------------------------------------------------------------------ outputs

    def write_output(self, result: SynthResult | tuple[np.ndarray, int], stem: str) -> str:
        """Write 16-bit WAV audio into the app's outputs folder; returns its path. Outputs
        older than an hour are removed (Gradio serves its own copy)."""
        audio, rate = ((result.audio, result.sample_rate) if isinstance(result, SynthResult)
                       else result)
        self._sweep_outputs()
        folder = self.outputs_dir / uuid.uuid4().hex
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stem}.wav"
        save_wav(path, audio, rate)
        return str(path)

    def write_image(self, image: np.ndarray, stem: str) -> str:
        """Write an RGB image ``(height, width, 3)`` uint8 as PNG (fast compression) into the
        outputs folder; returns its path."""
        from PIL import Image

        self._sweep_outputs()
        folder = self.outputs_dir / uuid.uuid4().hex
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stem}.png"
        Image.fromarray(image).save(path, format="PNG", compress_level=1)
        return str(path)

    def _sweep_outputs(self) -> None:
        now = time.time()
        if now - self._last_sweep < 60 or not self.outputs_dir.is_dir():
            return
        self._last_sweep = now
        for folder in self.outputs_dir.iterdir():
            try:
                if now - folder.stat().st_mtime > self.output_ttl:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                pass

    def read_clips(self, files: Sequence[str] | str | None, what: str, target_rate: int | None
                   ) -> list[Clip]:
        if files is None or files == "" or (isinstance(files, (list, tuple)) and not files):
            return []
        paths = [files] if isinstance(files, (str, os.PathLike)) else list(files)
        if len(paths) > self.limits.max_references:
            raise UserError(f"{len(paths)} {what} clips; the limit is {self.limits.max_references}")
        return [read_clip(p, what, self.limits, target_rate) for p in paths]

    # ------------------------------------------------------------------ text to speech

    def tts(self, text: str | None, voice: str | None = "base",
            references: Sequence[str] | None = None, saved_voice: str | None = None,
            vocoder: str | None = None) -> tuple[str, str]:
        """Text -> speech. ``voice``: ``base`` (the espeak-ng voice through the mel
        ``vocoder``), ``clips`` (converted into the voice of the ``references`` clips) or
        ``saved`` (into the saved voice ``saved_voice``). Returns the WAV path and notes
        (markdown); the UI then shows its mel (:meth:`mel`)."""
        text = (text or "").strip()
        if not text:
            raise UserError("type some text to speak")
        if len(text) > self.limits.max_text_chars:
            raise UserError(f"the text is {len(text)} characters long; the limit is "
                            f"{self.limits.max_text_chars}")
        voice = (voice or "base").strip().lower()
        notes: list[str] = []
        if voice == "base":
            synth = self.resolve_vocoder(vocoder)
            with self.timing():
                result = synth.speak(text)
            name = synth.vocoder_name if synth is not self.synth else self.config.vocoder
            notes.append(f"espeak-ng base voice through the **{_display_name(name)}** vocoder")
        elif voice in ("clips", "saved"):
            if voice == "clips":
                clips = self.read_clips(references, "reference", None)
                if not clips:
                    raise UserError("upload one or more reference clips of the target voice")
                notes += [n for c in clips for n in c.notes]
                with self.timing():
                    target: Any = self.synth.make_voice([c.pair() for c in clips])
                described = f"{len(clips)} reference clip(s)"
            else:
                target = self.voice_path(saved_voice)
                described = f"saved voice **{saved_voice}**"
            with self.timing():
                result = self._loudness(self.synth.speak(text, voice=target), -16.0)
            notes.append(f"espeak-ng base voice converted into {described} (kNN-VC); the mel "
                         "vocoder choice does not apply")
        else:
            raise UserError(f"voice must be 'base', 'clips' or 'saved', got {voice!r}")
        notes.append(f"{result.seconds:.2f} s at {result.sample_rate} Hz")
        return self.write_output(result, "speech"), _markdown(notes)

    def mel(self, audio: str | None) -> str:
        """The mel spectrogram of an audio file as a PNG image (80 bands up to 8 kHz, low
        frequencies at the bottom); returns its path."""
        if not audio:
            raise UserError("no audio to show")
        clip = read_clip(audio, "audio", self.limits)
        return self.write_image(mel_image(display_mel(clip.wav, clip.sample_rate)), "mel")

    @staticmethod
    def _loudness(result: SynthResult, lufs: float | None) -> SynthResult:
        if lufs is None:
            return result
        from synth.audio import normalize_loudness

        return SynthResult(normalize_loudness(result.audio, result.sample_rate, lufs),
                           result.sample_rate)

    # ------------------------------------------------------------------ voice conversion

    def convert(self, source: str | None, references: Sequence[str] | None, k: float = 4,
                normalize: bool = True, loudness: float = -16.0) -> tuple[str, str]:
        """Voice conversion: ``source`` speech in the voice of the ``references`` clips, with
        ``k`` neighbours; loudness normalised to ``loudness`` LUFS when ``normalize``.
        Returns the WAV path and notes."""
        if not source:
            raise UserError("upload or record the source speech")
        k = int(k)
        if not 1 <= k <= 64:
            raise UserError(f"k must be 1..64, got {k}")
        if normalize and not -70 <= float(loudness) <= 0:
            raise UserError(f"loudness must be -70..0 LUFS, got {loudness}")
        vc_rate = self.synth.knnvc.extractor.sample_rate
        src = read_clip(source, "source", self.limits, vc_rate)
        clips = self.read_clips(references, "reference", None)
        if not clips:
            raise UserError("upload one or more reference clips of the target voice")
        notes = src.notes + [n for c in clips for n in c.notes]
        with self.timing():
            voice = self.synth.make_voice([c.pair() for c in clips])
            result = self.synth.convert(src.pair(), voice, k=k)
            result = self._loudness(result, float(loudness) if normalize else None)
        notes.append(f"{src.seconds:.2f} s of source speech in the voice of {len(clips)} "
                     f"reference clip(s) ({voice.seconds:.1f} s of matched speech), k = {k}; "
                     f"{result.sample_rate} Hz")
        return self.write_output(result, "converted"), _markdown(notes)

    def save_voice(self, references: Sequence[str] | None, name: str | None) -> tuple[str, str]:
        """Save the reference clips as the voice ``name`` (letters, digits, ``_``, ``-``)
        for text to speech. Returns notes and the saved name."""
        name = (name or "").strip()
        if not VOICE_NAME.match(name):
            raise UserError(f"voice name {name!r} is not allowed: use 1-64 letters, digits, "
                            "'_' or '-'")
        clips = self.read_clips(references, "reference", None)
        if not clips:
            raise UserError("upload one or more reference clips of the voice to save")
        self.voices_dir.mkdir(parents=True, exist_ok=True)
        path = self.voices_dir / f"{name}.pt"
        replaced = path.exists()
        with self.timing():
            voice = self.synth.save_voice([c.pair() for c in clips], path)
        notes = [n for c in clips for n in c.notes]
        notes.append(f"{'replaced' if replaced else 'saved'} voice **{name}**: {len(clips)} "
                     f"clip(s), {voice.seconds:.1f} s of speech; choose it under "
                     "Text to speech > Saved voice")
        return _markdown(notes), name

    # ------------------------------------------------------------------ vocoder lab

    def vocoder(self, audio: str | None, mel: str | None = None, vocoder: str | None = None,
                checkpoint: str | None = None, config: str | None = None,
                preset: str | None = None) -> tuple[str, str]:
        """Resynthesise ``audio`` (or vocode the ``.npy`` ``mel``) with a vocoder: the choice
        ``vocoder``, or an uploaded ``checkpoint`` with its ``config`` (``config.json``) or
        a ``preset`` (v1, v2, v3). Returns the result (a WAV at the vocoder's rate) and
        notes; the UI then compares it with the input (:meth:`vocoder_compare`)."""
        if bool(audio) == bool(mel):
            raise UserError("give either an audio clip to resynthesise or a .npy mel to vocode, "
                            "not both" if audio else
                            "upload an audio clip to resynthesise or a .npy mel to vocode")
        synth, label = self._lab_vocoder(vocoder, checkpoint, config, preset)
        rate = synth.sample_rate
        if audio:
            clip = read_clip(audio, "audio", self.limits, rate)
            with self.timing():
                wav = synth.load_input_audio(clip.pair(), None, rate, clip.name)
                result = SynthResult(synth.vocode_frames([synth.mel(wav, clip.name)])[0], rate)
            notes = clip.notes + [f"{clip.name}: {result.seconds:.2f} s resynthesised by "
                                  f"{label} at {rate} Hz"]
            return self.write_output(result, "resynthesized"), _markdown(notes)
        path, array = self._read_mel(mel)
        frames = array.shape[-1]
        seconds = frames * audio_config_of(synth.mel_vocoder).hop_size / rate
        if seconds > self.limits.max_seconds:
            raise UserError(f"mel ({path.name}): {frames} frames make {seconds:.1f} s of "
                            f"audio; the limit is {self.limits.max_seconds:g} s")
        try:
            with self.timing():
                result = synth.vocode(array)
        except PipelineError as exc:
            raise UserError(f"mel ({path.name}): {_strip_path(str(exc), path)}") from None
        notes = [f"{path.name}: {frames} frames vocoded by {label}: {result.seconds:.2f} s at "
                 f"{rate} Hz"]
        return self.write_output(result, "vocoded"), _markdown(notes)

    def _read_mel(self, mel: str) -> tuple[Path, np.ndarray]:
        """An uploaded ``.npy`` mel: its path and array (at least 2-D)."""
        path = Path(mel)
        size = path.stat().st_size if path.is_file() else 0
        if size > self.limits.max_upload_bytes:
            raise UserError(f"mel ({path.name}): the file is {size / 1e6:.1f} MB; the limit "
                            f"is {self.limits.max_upload_mb:g} MB")
        if path.suffix.lower() != ".npy":
            raise UserError(f"mel ({path.name}): expected a .npy file (numpy.save of a "
                            "(num_mels, frames) array)")
        try:
            array = load_mel_file(path)
        except PipelineError as exc:
            raise UserError(f"mel ({path.name}): {_strip_path(str(exc), path)}") from None
        if array.ndim < 2 or array.shape[-1] == 0:
            raise UserError(f"mel ({path.name}): expected an array of shape (num_mels, frames), "
                            f"got {tuple(array.shape)}")
        return path, array

    def vocoder_compare(self, original: str | None, resynthesized: str | None,
                        mel: str | None = None) -> tuple[str | None, str, list[list[Any]]]:
        """Compare a resynthesis with its original: their mel images (80 bands up to 8 kHz,
        one colour range) and the objective scores of ``vocoder eval`` (rows: score, value,
        which way is better, what it measures). The original is resampled to the
        resynthesis's rate and cut to its length (a vocoder makes ``frames * hop`` samples).
        Without an original, the left image shows the ``.npy`` ``mel`` given to the vocoder
        (its own bands) and there are no scores."""
        if not resynthesized:
            raise UserError("nothing to compare: resynthesise something first")
        deg = read_clip(resynthesized, "resynthesis", self.limits)
        deg_mel = display_mel(deg.wav, deg.sample_rate)
        if not original:
            if not mel:
                raise UserError("give the original audio (or the .npy mel) to compare with")
            _, array = self._read_mel(mel)
            given = np.asarray(array, np.float32).reshape(array.shape[-2], array.shape[-1])
            return (self.write_image(mel_image(given), "mel-given"),
                    self.write_image(mel_image(deg_mel), "mel-vocoded"), [])
        ref = read_clip(original, "original", self.limits)
        ref_wav = resample(ref.wav, ref.sample_rate, deg.sample_rate)[: len(deg.wav)]
        ref_mel = display_mel(ref_wav, deg.sample_rate)
        lo_hi = mel_range(ref_mel, deg_mel)
        rows, notes = score_pair(ref_wav, deg.wav, deg.sample_rate)
        for note in notes:
            LOG.info("scores: %s", note)
        return (self.write_image(mel_image(ref_mel, lo_hi), "mel-original"),
                self.write_image(mel_image(deg_mel, lo_hi), "mel-resynthesized"), rows)

    def _lab_vocoder(self, vocoder: str | None, checkpoint: str | None, config: str | None,
                     preset: str | None) -> tuple[Synthesizer, str]:
        if checkpoint:
            ckpt = Path(checkpoint)
            preset = (preset or "").strip().lower()
            if config:
                cfg: str = str(config)
            elif preset in PRESETS:
                cfg = preset
            elif preset:
                raise UserError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
            else:
                raise UserError(f"checkpoint ({ckpt.name}): upload its config.json too, or pick "
                                f"a preset ({', '.join(PRESETS)})")
            size = ckpt.stat().st_size if ckpt.is_file() else 0
            if size > self.limits.max_upload_bytes:
                raise UserError(f"checkpoint ({ckpt.name}): the file is {size / 1e6:.1f} MB; the "
                                f"limit is {self.limits.max_upload_mb:g} MB")
            try:
                synth = self.engines.uploaded_synth(ckpt, cfg)
            except (ValueError, ModelError) as exc:
                message = _strip_path(_strip_path(str(exc), ckpt), Path(cfg))
                raise UserError(f"checkpoint ({ckpt.name}): {message}") from None
            return synth, f"the uploaded checkpoint {ckpt.name}"
        synth = self.resolve_vocoder(vocoder, allow_none=False)
        name = self.config.vocoder if synth is self.synth else synth.vocoder_name
        return synth, _display_name(name)

    # ------------------------------------------------------------------ models

    MODEL_HEADERS = ["name", "kind", "size", "state", "used here as", "licence", "cache path"]

    def models(self) -> list[list[str]]:
        """The registry's models and their cache state (rows under :attr:`MODEL_HEADERS`)."""
        uses = {self.config.vocoder: "default mel vocoder",
                self.config.vc_vocoder: "voice conversion vocoder",
                self.config.extractor: "voice conversion features"}
        rows = []
        for entry in self.registry:
            status = self.cache.status(entry.name)
            state = status.state
            if state == "partial":
                state = f"partial ({format_size(status.bytes)} so far)"
            rows.append([entry.name, entry.kind.replace("_", " "), format_size(entry.size),
                         state, uses.get(entry.name, ""), entry.licence, str(status.path)])
        return rows

    def download_model(self, name: str | None,
                       progress: Callable[..., Any] | None = None) -> tuple[str, list[list[str]]]:
        """Download a registry model into the cache, reporting ``progress((done, total),
        desc=..., unit="bytes")``. Returns notes and the updated model table."""
        name = (name or "").strip()
        if not name:
            raise UserError("choose a model to download")
        if name not in self.registry:
            raise UserError(f"unknown model {name!r}; known models: "
                            f"{', '.join(self.registry.names())}")
        last = [0.0]

        def report(done: int, total: int | None) -> None:
            now = time.monotonic()
            if progress is not None and (now - last[0] > 0.1 or (total and done >= total)):
                last[0] = now
                progress((done, total), desc=f"downloading {name}", unit="bytes")

        cache = ModelCache(self.registry, self.home, offline=self.offline, progress=False,
                           on_progress=report)
        before = cache.status(name).state
        path = cache.get(name)
        size = path.stat().st_size
        if before in ("cached", "verified"):
            note = f"**{name}** was already in the cache ({format_size(size)}), checked: {path}"
        else:
            note = f"downloaded **{name}** ({format_size(size)}), checksum checked: {path}"
        return note, self.models()

    def status(self) -> dict[str, Any]:
        """Device, models, limits and choices, as JSON."""
        info = self.synth.describe()
        cuda = None
        if self.synth.device.type == "cuda":
            index = self.synth.device.index or 0
            props = torch.cuda.get_device_properties(index)
            cuda = {"name": props.name, "memory_gb": round(props.total_memory / 1e9, 1),
                    "allocated_gb": round(torch.cuda.memory_allocated(index) / 1e9, 2)}
        return {
            "device": info["device"], "dtype": info["dtype"], "cuda": cuda,
            "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
            "concurrency": self.concurrency, "queue_size": self.config.queue_size,
            "models": {"vocoder": _display_name(self.config.vocoder),
                       "vc_vocoder": _display_name(self.config.vc_vocoder),
                       "extractor": _display_name(self.config.extractor),
                       "loaded": info["loaded"]},
            "offline": self.offline,
            "limits": asdict(self.limits),
            "vocoders": [value for _, value in self.vocoder_choices()],
            "voices": self.voice_names(),
        }

    def status_markdown(self) -> str:
        s = self.status()
        device = s["device"]
        if s["cuda"]:
            device += f" ({s['cuda']['name']}, {s['cuda']['memory_gb']} GB)"
        else:
            device += f" ({s['cpu_threads']} threads)"
        loaded = ", ".join(s["models"]["loaded"]) or "nothing yet"
        return (f"**Device:** {device}, {s['dtype']} · **requests at once:** {s['concurrency']} "
                f"(queue {s['queue_size']}) · **loaded:** {loaded} · torch {s['torch']}"
                + (" · **offline**" if s["offline"] else ""))


def _display_name(spec: str) -> str:
    """A model as the UI shows it: a registry name as it is, a path by its file name (the
    server's folders are not shown)."""
    return Path(spec).name if ("/" in spec or os.sep in spec) else spec


def _markdown(notes: Sequence[str]) -> str:
    return "\n".join(f"- {n}" for n in notes)


# =========================================================================== errors

def _user_message(exc: BaseException) -> str | None:
    """The message for an error the user can act on, or ``None`` for a bug. Imports nothing:
    building the message must not fail the way the request did."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        torch.cuda.empty_cache()
        return ("the GPU ran out of memory for this request; try shorter audio, or ask the "
                "operator to lower --concurrency")
    if isinstance(exc, HifisynthError):
        message = one_line(exc)
        return message.replace("--vocoder griffinlim, or Synthesizer(vocoder='griffinlim')",
                               "choose 'griffinlim' as the vocoder")
    return None


def handler(app: HifisynthApp, method: Callable[..., Any], name: str) -> Callable[..., Any]:
    """Wrap an app method for Gradio: user errors become a ``gr.Error`` with the message,
    notes become ``gr.Warning`` toasts, anything else is logged with its traceback and shown
    as one line (the worker goes on)."""
    import functools
    import inspect

    import gradio as gr

    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        app.synth_seconds(reset=True)
        try:
            out = method(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            try:
                message = _user_message(exc)
            except Exception:  # noqa: BLE001 - never let the message fail the request again
                message = None
            if message is None:
                LOG.exception("%s failed", name)
                message = (f"something went wrong in the app ({type(exc).__name__}); the "
                           "details are in the server log")
            else:
                LOG.info("%s: %s", name, message)
            message = _public(app, message)
            # duration=None: the message stays until closed (the output only says "Error")
            raise gr.Error(message[:1].upper() + message[1:], duration=None,
                           print_exception=False) from None
        LOG.info("%s done in %.3f s (%.3f s in the Synthesizer)", name,
                 time.perf_counter() - started, app.synth_seconds())
        return out

    run.__signature__ = inspect.signature(method)  # type: ignore[attr-defined]
    return run


def _public(app: HifisynthApp, message: str) -> str:
    """Remove the app's temp folder (uploads live there) from a message."""
    temp = str(app.temp_dir)
    message = re.sub(re.escape(temp) + r"[^\s:]*/", "", message)
    return message.replace(temp, "<temp>")


# =========================================================================== UI

CSS = """
.hs-notes ul { margin: 0; }
.hs-mel img { image-rendering: pixelated; }
footer { display: none !important; }
"""


def build_ui(app: HifisynthApp):
    """The Gradio Blocks: four tabs, every action a named API endpoint."""
    import gradio as gr

    example_text = ""
    txt = EXAMPLES / "LJ011-0202.txt"
    if txt.is_file():
        example_text = txt.read_text(encoding="utf-8").strip()
    example_clip = EXAMPLES / "LJ011-0202.wav"

    def wrap(method: Callable[..., Any], name: str) -> Callable[..., Any]:
        return handler(app, method, name)

    synth_events = dict(concurrency_id="synthesis", concurrency_limit=app.concurrency)

    with gr.Blocks(title="hifisynth", analytics_enabled=False,
                   delete_cache=(1800, 3600)) as demo:
        gr.Markdown("# hifisynth\nSpeech synthesis with HiFi-GAN vocoders: text to speech, "
                    "voice conversion (kNN-VC), and a vocoder lab.")
        status_line = gr.Markdown(elem_id="hs-status")

        with gr.Tabs():
            # ---------------------------------------------------------- text to speech
            with gr.Tab("Text to speech", id="tts"):
                with gr.Row():
                    with gr.Column(scale=3):
                        text = gr.Textbox(label="Text", lines=5, max_lines=20,
                                          max_length=app.limits.max_text_chars,
                                          placeholder="Type English text to speak.",
                                          elem_id="tts-text")
                        with gr.Row():
                            voice = gr.Radio([("Base voice (espeak-ng)", "base"),
                                              ("Reference clips", "clips"),
                                              ("Saved voice", "saved")],
                                             value="base", label="Voice", elem_id="tts-voice")
                            tts_vocoder = gr.Dropdown(app.vocoder_choices(),
                                                      value="default",
                                                      label="Vocoder (base voice)",
                                                      allow_custom_value=True,
                                                      elem_id="tts-vocoder")
                        tts_refs = gr.File(label="Reference clips (target voice)",
                                           file_count="multiple", file_types=["audio"],
                                           visible=False, elem_id="tts-refs")
                        with gr.Row(visible=False) as saved_row:
                            saved_voice = gr.Dropdown(app.voice_names(), label="Saved voice",
                                                      allow_custom_value=True,
                                                      elem_id="tts-saved")
                            refresh_voices = gr.Button("Refresh", size="sm")
                        tts_button = gr.Button("Synthesise", variant="primary",
                                               elem_id="tts-run")
                        if example_text:
                            gr.Examples([[example_text]], inputs=[text], label="Example")
                    with gr.Column(scale=2):
                        tts_audio = gr.Audio(label="Speech", type="filepath", format="wav",
                                             interactive=False, buttons=["download"],
                                             elem_id="tts-audio")
                        tts_mel = gr.Image(label="Mel spectrogram", format="png", height=180,
                                           interactive=False, elem_classes="hs-mel",
                                           elem_id="tts-mel")
                        tts_notes = gr.Markdown(elem_classes="hs-notes", elem_id="tts-notes")

            # ---------------------------------------------------------- voice conversion
            with gr.Tab("Voice conversion", id="vc"):
                with gr.Row():
                    with gr.Column():
                        vc_source = gr.Audio(label="Source speech",
                                             sources=["upload", "microphone"], type="filepath",
                                             elem_id="vc-source")
                        vc_refs = gr.File(label="Reference clips (target voice), one or more",
                                          file_count="multiple", file_types=["audio"],
                                          elem_id="vc-refs")
                        with gr.Row():
                            vc_k = gr.Slider(1, 32, value=4, step=1,
                                             label="k (neighbours per frame)", elem_id="vc-k")
                            vc_lufs = gr.Slider(-40, -6, value=-16, step=1,
                                                label="Loudness (LUFS)", elem_id="vc-loudness")
                        vc_norm = gr.Checkbox(value=True, label="Normalise loudness",
                                              elem_id="vc-normalize")
                        vc_button = gr.Button("Convert", variant="primary", elem_id="vc-run")
                    with gr.Column():
                        vc_audio = gr.Audio(label="Converted", type="filepath", format="wav",
                                            interactive=False, buttons=["download"],
                                            elem_id="vc-output")
                        vc_notes = gr.Markdown(elem_classes="hs-notes", elem_id="vc-notes")
                        if example_clip.is_file():
                            gr.Examples([[str(example_clip)]], inputs=[vc_source],
                                        label="Example source")
                        with gr.Accordion("Save the reference clips as a voice", open=False):
                            with gr.Row():
                                voice_name = gr.Textbox(label="Voice name",
                                                        placeholder="e.g. alice", max_length=64,
                                                        elem_id="vc-voice-name")
                                save_button = gr.Button("Save voice", elem_id="vc-save")
                            save_notes = gr.Markdown(elem_classes="hs-notes",
                                                     elem_id="vc-save-notes")

            # ---------------------------------------------------------- vocoder lab
            with gr.Tab("Vocoder", id="vocoder"):
                with gr.Row(equal_height=True):
                    lab_vocoder = gr.Dropdown(app.vocoder_choices(), value="default",
                                              label="Vocoder", allow_custom_value=True,
                                              scale=3, elem_id="lab-vocoder")
                    lab_button = gr.Button("Resynthesise", variant="primary", scale=1,
                                           elem_id="lab-run")
                with gr.Accordion("…or your own checkpoint", open=False):
                    with gr.Row():
                        lab_ckpt = gr.File(label="Generator checkpoint (g_XXXXXXXX, .pt, .pth)",
                                           elem_id="lab-ckpt")
                        lab_config = gr.File(label="Its config.json", file_types=[".json"],
                                             elem_id="lab-config")
                        lab_preset = gr.Dropdown(["", *PRESETS], value="",
                                                 label="…or a preset config",
                                                 elem_id="lab-preset")
                with gr.Row():
                    with gr.Column():
                        lab_audio = gr.Audio(label="Original (audio to resynthesise)",
                                             type="filepath", sources=["upload", "microphone"],
                                             elem_id="lab-audio")
                        lab_orig_mel = gr.Image(label="Original mel", format="png", height=180,
                                                interactive=False, elem_classes="hs-mel")
                    with gr.Column():
                        lab_out = gr.Audio(label="Resynthesised", type="filepath", format="wav",
                                           interactive=False, buttons=["download"],
                                           elem_id="lab-output")
                        lab_out_mel = gr.Image(label="Resynthesised mel", format="png", height=180,
                                               interactive=False, elem_classes="hs-mel")
                with gr.Accordion("…or vocode a mel from another TTS system", open=False):
                    lab_mel = gr.File(label="Mel (.npy of shape (num_mels, frames), natural log, "
                                            "the vocoder's mel settings)", file_types=[".npy"],
                                      elem_id="lab-mel")
                lab_scores = gr.Dataframe(headers=SCORE_HEADERS, label="Objective scores "
                                          "(as `vocoder eval`)", interactive=False,
                                          elem_id="lab-scores")
                lab_notes = gr.Markdown(elem_classes="hs-notes", elem_id="lab-notes")

            # ---------------------------------------------------------- models
            with gr.Tab("Models", id="models"):
                device_md = gr.Markdown(elem_id="models-device")
                models_table = gr.Dataframe(headers=HifisynthApp.MODEL_HEADERS,
                                            value=app.models(), label="Model cache",
                                            interactive=False, wrap=True, elem_id="models-table")
                with gr.Row():
                    model_name = gr.Dropdown(app.registry.names(), label="Model to download",
                                             elem_id="models-name")
                    download_button = gr.Button("Download", variant="primary",
                                                elem_id="models-download")
                    refresh_models = gr.Button("Refresh")
                download_notes = gr.Markdown(elem_classes="hs-notes", elem_id="models-notes")
                gr.Markdown(f"Cache: `{app.home / 'models'}`"
                            + (" (offline: downloads are off)" if app.offline else ""))

        # -------------------------------------------------------------- events
        view_events = dict(concurrency_id="views", concurrency_limit=2)
        tts_button.click(wrap(app.tts, "tts"),
                         [text, voice, tts_refs, saved_voice, tts_vocoder],
                         [tts_audio, tts_notes], api_name="tts", **synth_events
                         ).success(wrap(app.mel, "mel"), [tts_audio], [tts_mel], api_name="mel",
                                   **view_events)
        voice.change(lambda v: (gr.update(visible=v == "clips"), gr.update(visible=v == "saved"),
                                gr.update(interactive=v == "base")),
                     [voice], [tts_refs, saved_row, tts_vocoder], queue=False,
                     api_visibility="private")
        refresh_voices.click(lambda: gr.update(choices=app.voice_names()), None, [saved_voice],
                             queue=False, api_visibility="private")

        vc_button.click(wrap(app.convert, "convert"), [vc_source, vc_refs, vc_k, vc_norm, vc_lufs],
                        [vc_audio, vc_notes], api_name="convert", **synth_events)
        save_button.click(wrap(app.save_voice, "save_voice"), [vc_refs, voice_name],
                          [save_notes, saved_voice], api_name="save_voice", **synth_events
                          ).then(lambda: gr.update(choices=app.voice_names()), None,
                                 [saved_voice], api_visibility="private", queue=False)

        lab_button.click(wrap(app.vocoder, "vocoder"),
                         [lab_audio, lab_mel, lab_vocoder, lab_ckpt, lab_config, lab_preset],
                         [lab_out, lab_notes], api_name="vocoder", **synth_events
                         ).success(wrap(app.vocoder_compare, "vocoder_compare"),
                                   [lab_audio, lab_out, lab_mel],
                                   [lab_orig_mel, lab_out_mel, lab_scores],
                                   api_name="vocoder_compare", **view_events)

        download_button.click(wrap(app.download_model, "download_model"), [model_name],
                              [download_notes, models_table], api_name="download_model",
                              concurrency_id="download", concurrency_limit=1)
        refresh_models.click(wrap(app.models, "models"), None, [models_table],
                             api_name="models", concurrency_limit=None)
        gr.api(wrap(app.status, "status"), api_name="status", concurrency_limit=None)

        def on_load():
            md = app.status_markdown()
            choices = app.vocoder_choices()
            return (md, md, app.models(), gr.update(choices=app.voice_names()),
                    gr.update(choices=choices), gr.update(choices=choices))

        demo.load(on_load, None, [status_line, device_md, models_table, saved_voice,
                                  tts_vocoder, lab_vocoder], api_visibility="private",
                  concurrency_limit=None)
    demo.queue(default_concurrency_limit=app.concurrency, max_size=app.config.queue_size)
    return demo


def theme():
    """The default theme with system fonts (no font downloads from the internet)."""
    import gradio as gr

    return gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "monospace"])


# =========================================================================== command line

def build_parser() -> argparse.ArgumentParser:
    from synth.cli import ArgumentParser

    p = ArgumentParser(
        prog="app.py",
        description="hifisynth's web app: text to speech, voice conversion, a vocoder lab and "
                    "the model cache, each also a named API endpoint (see docs/app.md).",
        epilog="Environment: HIFISYNTH_HOME (model cache), HIFISYNTH_OFFLINE=1 (never "
               "download), HIFISYNTH_REGISTRY (another model registry file).")
    net = p.add_argument_group("server")
    net.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default %(default)s; 0.0.0.0 for every "
                          "interface)")
    net.add_argument("--port", type=int, default=7860, help="port (default %(default)s)")
    net.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    net.add_argument("--root-path", default=None, metavar="PATH",
                     help="URL prefix when served behind a reverse proxy (e.g. /hifisynth)")
    models = p.add_argument_group("models and device")
    models.add_argument("--vocoder", default=DEFAULT_MEL_VOCODER, metavar="NAME|PATH",
                        help="default mel vocoder: registry name (default %(default)s), "
                             "checkpoint path, 'griffinlim' or 'none'")
    models.add_argument("--vocoder-config", metavar="CONFIG",
                        help="config.json or preset for a --vocoder path")
    models.add_argument("--vc-vocoder", default=DEFAULT_VC_VOCODER, metavar="NAME|PATH",
                        help="voice conversion (kNN-VC) vocoder (default %(default)s)")
    models.add_argument("--vc-vocoder-config", metavar="CONFIG",
                        help="config.json for a --vc-vocoder path")
    models.add_argument("--extractor", default=DEFAULT_EXTRACTOR, metavar="NAME|PATH",
                        help="feature extractor for voice conversion (default %(default)s)")
    models.add_argument("--extractor-arch", default="WAVLM_LARGE", metavar="ARCH",
                        help="torchaudio architecture of an --extractor path "
                             "(default %(default)s)")
    models.add_argument("--layer", type=int, metavar="N",
                        help="feature layer for kNN-VC (default: the extractor's)")
    models.add_argument("--models-dir", type=Path, metavar="DIR",
                        help="folder of extra vocoder checkpoints (each with config.json "
                             "beside it) offered in the UI; the only folder a vocoder name "
                             "may point into")
    models.add_argument("--voices-dir", type=Path, metavar="DIR",
                        help="where saved voices are kept (default $HIFISYNTH_HOME/voices)")
    models.add_argument("--device", default="auto",
                        help="auto (CUDA when present), cpu, cuda, cuda:N (default %(default)s)")
    models.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                        help="vocoder dtype (default %(default)s; float16 needs a GPU)")
    models.add_argument("--no-preload", action="store_true",
                        help="load models on first use instead of at start-up")
    limits = p.add_argument_group("limits")
    limits.add_argument("--max-upload-mb", type=float, default=100.0, metavar="MB",
                        help="largest uploaded file (default %(default)g MB)")
    limits.add_argument("--max-seconds", type=float, default=60.0, metavar="S",
                        help="longest uploaded clip (default %(default)g s)")
    limits.add_argument("--max-text-chars", type=int, default=2000, metavar="N",
                        help="longest text to speak (default %(default)s characters)")
    limits.add_argument("--max-references", type=int, default=20, metavar="N",
                        help="most reference clips per request (default %(default)s)")
    limits.add_argument("--concurrency", type=int, metavar="N",
                        help="synthesis requests run at once (default 1; each holds its "
                             "activations in GPU memory)")
    limits.add_argument("--queue-size", type=int, default=64, metavar="N",
                        help="requests that may wait (default %(default)s)")
    limits.add_argument("--temp-dir", type=Path, metavar="DIR",
                        help="uploads and outputs (default: a new folder in the system temp "
                             "folder, removed at exit)")
    return p


def config_from_args(args: argparse.Namespace) -> AppConfig:
    """An :class:`AppConfig` from parsed options (raises ``ValueError`` for bad values)."""
    for name in ("max_upload_mb", "max_seconds", "max_text_chars", "max_references",
                 "queue_size"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive")
    if args.concurrency is not None and args.concurrency < 1:
        raise ValueError("--concurrency must be at least 1")
    if args.models_dir is not None and not args.models_dir.is_dir():
        raise ValueError(f"--models-dir {args.models_dir}: not a folder")
    limits = Limits(max_upload_mb=args.max_upload_mb, max_seconds=args.max_seconds,
                    max_text_chars=args.max_text_chars, max_references=args.max_references)
    return AppConfig(vocoder=args.vocoder, vocoder_config=args.vocoder_config,
                     vc_vocoder=args.vc_vocoder, vc_vocoder_config=args.vc_vocoder_config,
                     extractor=args.extractor, extractor_arch=args.extractor_arch,
                     layer=args.layer, device=args.device, dtype=args.dtype,
                     models_dir=args.models_dir, voices_dir=args.voices_dir,
                     temp_dir=args.temp_dir, limits=limits, concurrency=args.concurrency,
                     queue_size=args.queue_size, preload=not args.no_preload)


@dataclass
class TempFolder:
    """The app's temp folder: made here (and removed at exit) unless one was given."""

    path: Path
    owned: bool

    @classmethod
    def make(cls, given: Path | None) -> "TempFolder":
        if given is not None:
            given.mkdir(parents=True, exist_ok=True)
            return cls(given.resolve(), False)
        return cls(Path(tempfile.mkdtemp(prefix="hifisynth-app-")).resolve(), True)

    def cleanup(self) -> None:
        if self.owned:
            shutil.rmtree(self.path, ignore_errors=True)


def launch_options(app: HifisynthApp, args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of ``launch()``: address, limits and what may be served.

    Gradio serves its upload/output folder (``GRADIO_TEMP_DIR``, inside the app's temp
    folder), its examples cache (``.gradio/cached_examples`` under the working folder; the
    app caches no examples, so it is blocked) and ``allowed_paths`` (none). The model cache,
    voices and models folders are blocked too, in case they lie inside a served folder.
    """
    examples_cache = Path(os.environ.get("GRADIO_EXAMPLES_CACHE",
                                         ".gradio/cached_examples")).resolve()
    blocked = [str(app.home), str(app.voices_dir), str(examples_cache)]
    if app.models_dir is not None:
        blocked.append(str(app.models_dir))
    blocked = [b for b in blocked if not app.temp_dir.is_relative_to(Path(b))]
    return dict(server_name=args.host, server_port=args.port, share=args.share,
                root_path=args.root_path, max_file_size=app.limits.max_upload_bytes,
                allowed_paths=[], blocked_paths=blocked, show_error=False,
                footer_links=["api"], ssr_mode=False, mcp_server=False, theme=theme(), css=CSS,
                quiet=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Start the app (blocks until interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    temp = TempFolder.make(args.temp_dir)
    # Gradio keeps uploads and the files it serves under GRADIO_TEMP_DIR: the app's own.
    os.environ["GRADIO_TEMP_DIR"] = str(temp.path / "gradio")
    try:
        from vocoder.inference import tune_cpu_allocator

        tune_cpu_allocator()
        try:
            app = HifisynthApp(AppConfig(**{**asdict_shallow(config), "temp_dir": temp.path}))
        except (ValueError, ModelError) as exc:
            print(f"app.py: error: {' '.join(str(exc).split())}", file=sys.stderr)
            return 2
        if config.preload:
            for problem in app.preload():
                LOG.warning("not loaded (its tab will say how to fix it): %s", problem)
        demo = build_ui(app)
        LOG.info("device %s, %s; %d synthesis request(s) at once", app.synth.device,
                 str(app.synth.dtype).removeprefix("torch."), app.concurrency)
        demo.launch(**launch_options(app, args))
    except KeyboardInterrupt:
        pass
    finally:
        temp.cleanup()
    return 0


def asdict_shallow(obj: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, values not copied (unlike ``dataclasses.asdict``)."""
    return {f: getattr(obj, f) for f in obj.__dataclass_fields__}


if __name__ == "__main__":
    sys.exit(main())
