"""``Synthesizer``: the one object the app, the ``synth`` command and Python users share.

It composes a frontend (audio, a mel file, text through the espeak-ng base voice, or source
speech for voice conversion) with a vocoder and returns a :class:`SynthResult` (audio and
sample rate)::

    synth = Synthesizer()                                # hifigan-v3-ljspeech, device auto
    synth.speak("Hello there.").save("hello.wav")        # base voice through the vocoder
    synth.speak("Hello there.", voice="me.pt")           # ... converted into a saved voice
    synth.resynthesize("in.wav")                         # audio -> mel -> vocoder
    synth.vocode("tacotron_mel.npy")                     # mel from another TTS system
    synth.convert("src.wav", ["ref1.wav", "ref2.wav"])   # kNN-VC voice conversion

Models are named by registry name (see :mod:`synth.models`) or local path, loaded on first use
and then kept; each is loaded once even when many threads ask at the same time, and every
method may be called from several threads at once (inference keeps no state between calls).

Mel vocoder choices (``vocoder=``):

- a registry name or a checkpoint path (``config.json`` beside it, or ``vocoder_config=``);
- ``"griffinlim"``: Griffin-Lim inversion of the mel (no weights, low quality); only when asked
  for by name, never as a fallback;
- ``"none"``: no mel vocoder; :meth:`Synthesizer.speak` then returns the base voice's own
  audio, and resynthesis/vocoding raise :class:`PipelineError`.

How ``speak`` uses the vocoders: the espeak-ng base voice makes 22.05 kHz audio; without a
``voice`` that audio is resampled to the mel vocoder's rate (not needed for the default,
22.05 kHz) and goes through mel -> mel vocoder, so the vocoder chosen is the one heard. With a
``voice`` it goes through kNN-VC instead (WavLM features -> nearest neighbours in the voice's
matching set -> the feature vocoder, 16 kHz); the mel vocoder is not involved.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from vocoder.audio import AUDIO_EXTENSIONS, AudioError, list_audio, load_audio, resample, save_wav
from vocoder.config import AudioConfig, HiFiGANConfig
from vocoder.errors import InputError
from vocoder.griffinlim import GriffinLimVocoder
from vocoder.frames import load_npy
from vocoder.inference import Vocoder, pick_device, pick_dtype, vocode

from .defaults import (DEFAULT_EXTRACTOR, DEFAULT_MEL_VOCODER, DEFAULT_VC_VOCODER, GRIFFINLIM,
                       NO_VOCODER)
from .models import ModelCache, ModelUnavailableError

if TYPE_CHECKING:  # only for annotations: synth.knnvc loads torchaudio's wav2vec2 models
    from .knnvc import KnnVC, MatchingSet

MATCHING_SET_SUFFIXES = (".pt", ".pth")

MelVocoder = Union[Vocoder, GriffinLimVocoder]
AudioInput = Union[str, os.PathLike, np.ndarray, Tensor, tuple]
Voice = Union[str, os.PathLike, "MatchingSet", Sequence[AudioInput], np.ndarray, Tensor]


class PipelineError(InputError):
    """Input or settings the pipeline cannot use; the message says what and how to fix it."""


@dataclass(frozen=True)
class SynthResult:
    """Synthesised speech: mono float32 ``audio`` ``(samples,)`` in [-1, 1] at ``sample_rate`` Hz.

    (Voice conversion normalises loudness, so its samples may slightly exceed [-1, 1];
    :meth:`save` clips.)
    """

    audio: np.ndarray
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate

    def save(self, path: str | os.PathLike) -> None:
        """Write a 16-bit PCM WAV file atomically."""
        save_wav(path, self.audio, self.sample_rate)


def audio_config_of(vocoder: MelVocoder) -> AudioConfig:
    """The mel settings a mel vocoder takes."""
    return vocoder.audio


class Synthesizer:
    """Text, audio, mel files and voice conversion through HiFi-GAN vocoders.

    Args:
        vocoder: mel vocoder: registry name, checkpoint path, ``"griffinlim"``, ``"none"``,
            or a ready :class:`~vocoder.inference.Vocoder` / :class:`GriffinLimVocoder`.
        vocoder_config: config for a checkpoint path (``config.json`` path or preset name;
            default ``config.json`` beside it); for ``"griffinlim"`` the mel settings to invert
            (default: the published 22.05 kHz, 80-band settings).
        vc_vocoder: feature vocoder for voice conversion: registry name or checkpoint path.
        vc_vocoder_config: config for a ``vc_vocoder`` path (default ``config.json`` beside it).
        extractor: SSL feature extractor: registry name, weights path (architecture
            ``extractor_arch``), or a ready ``synth.features.SSLFeatureExtractor``.
        extractor_arch: architecture of an ``extractor`` given as a path.
        layer: feature layer for kNN-VC (default: the registry entry's, else 6).
        k: neighbours averaged per frame in kNN-VC.
        target_loudness: loudness of converted speech in LUFS (``None``: unchanged).
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N``.
        dtype: ``float32``, ``bfloat16`` or ``float16`` (GPU) for the vocoders.
        cache: model cache (default: from ``HIFISYNTH_HOME``/``HIFISYNTH_OFFLINE``).
        base_voice, speaking_rate: espeak-ng voice name and words per minute.
        griffinlim_iters: Griffin-Lim iterations.
        max_batch_frames: padded mel frames per vocoder call (default 4000 on CPU, about
            46 s of 22.05 kHz audio; 32000 on GPU).
        max_batch_size: utterances per vocoder call.
        chunk_frames: longer mels are vocoded in chunks of this many frames (same output).
    """

    def __init__(self, vocoder: str | os.PathLike | MelVocoder | None = DEFAULT_MEL_VOCODER, *,
                 vocoder_config: str | os.PathLike | HiFiGANConfig | None = None,
                 vc_vocoder: str | os.PathLike = DEFAULT_VC_VOCODER,
                 vc_vocoder_config: str | os.PathLike | HiFiGANConfig | None = None,
                 extractor: Any = DEFAULT_EXTRACTOR, extractor_arch: str = "WAVLM_LARGE",
                 layer: int | None = None, k: int = 4, target_loudness: float | None = -16.0,
                 device: str | torch.device = "auto", dtype: str | torch.dtype = "float32",
                 cache: ModelCache | None = None, base_voice: str = "en-us",
                 speaking_rate: int = 175, griffinlim_iters: int = 32,
                 max_batch_frames: int | None = None, max_batch_size: int = 64,
                 chunk_frames: int = 2000) -> None:
        self.device = pick_device(device) if isinstance(device, str) else torch.device(device)
        self.dtype = pick_dtype(dtype, self.device)
        if k < 1:
            raise PipelineError(f"k must be at least 1, got {k}")
        if max_batch_size < 1 or chunk_frames < 1:
            raise PipelineError("max_batch_size and chunk_frames must be at least 1")
        self.vocoder_spec = NO_VOCODER if vocoder is None else vocoder
        self.vocoder_config = vocoder_config
        self.vc_vocoder_spec = vc_vocoder
        self.vc_vocoder_config = vc_vocoder_config
        self.extractor_spec = extractor
        self.extractor_arch = extractor_arch
        self.layer = layer
        self.k = k
        self.target_loudness = target_loudness
        self.base_voice_name = base_voice
        self.speaking_rate = speaking_rate
        self.griffinlim_iters = griffinlim_iters
        self.max_batch_frames = max_batch_frames or (32000 if self.device.type == "cuda" else 4000)
        self.max_batch_size = max_batch_size
        self.chunk_frames = chunk_frames
        self._cache = cache
        self._parts: dict[str, Any] = {}
        self._locks = {name: threading.Lock()
                       for name in ("cache", "vocoder", "mel", "espeak", "knnvc", "voices")}
        self._voices: OrderedDict[tuple, MatchingSet] = OrderedDict()
        self.max_cached_voices = 8
        if isinstance(self.vocoder_spec, (Vocoder, GriffinLimVocoder)):
            self._parts["vocoder"] = self.vocoder_spec

    # ------------------------------------------------------------------ loading, once each

    def _once(self, name: str, build: Callable[[], Any]) -> Any:
        """The component ``name``, built on first use under its lock (one build per object)."""
        part = self._parts.get(name)
        if part is not None:
            return part
        with self._locks[name]:
            part = self._parts.get(name)
            if part is None:
                part = build()
                self._parts[name] = part
            return part

    @property
    def cache(self) -> ModelCache:
        return self._once("cache", lambda: self._cache or ModelCache.from_env())

    @property
    def has_mel_vocoder(self) -> bool:
        """False for ``vocoder="none"``."""
        return not (isinstance(self.vocoder_spec, str) and self.vocoder_spec.lower() == NO_VOCODER)

    @property
    def vocoder_name(self) -> str:
        spec = self.vocoder_spec
        if isinstance(spec, GriffinLimVocoder):
            return GRIFFINLIM
        if isinstance(spec, Vocoder):
            return "vocoder object"
        return os.fspath(spec)

    @property
    def mel_vocoder(self) -> MelVocoder:
        """The mel vocoder, loaded on first use.

        Raises:
            PipelineError: ``vocoder="none"``, or the model is not a mel vocoder.
            ModelError: not found, not cached and not downloadable (the message says how to
                get it, and names ``griffinlim`` as the weight-free alternative).
        """
        if not self.has_mel_vocoder:
            raise PipelineError("no mel vocoder is selected (vocoder 'none'): choose one, e.g. "
                                f"'{DEFAULT_MEL_VOCODER}' or 'griffinlim', to resynthesise or "
                                "vocode mels")
        return self._once("vocoder", self._load_mel_vocoder)

    def _load_mel_vocoder(self) -> MelVocoder:
        spec = self.vocoder_spec
        if isinstance(spec, str) and spec.lower() == GRIFFINLIM:
            audio = AudioConfig()
            if self.vocoder_config is not None:
                audio = _config(self.vocoder_config).audio
            return GriffinLimVocoder(audio, n_iter=self.griffinlim_iters, device=self.device)
        self._check_kind(spec, "mel_vocoder")
        try:
            resolved = self.cache.resolve_model(spec)
        except ModelUnavailableError as exc:
            raise type(exc)(f"{str(exc).rstrip('.')}. Without it, the Griffin-Lim vocoder works "
                            "with no download (lower quality): --vocoder griffinlim, or "
                            "Synthesizer(vocoder='griffinlim').") from None
        if resolved.entry is not None:
            config: Any = resolved.entry.hifigan_config()
        else:
            config = self.vocoder_config
        voc = Vocoder.from_checkpoint(resolved.path, config, device=self.device, dtype=self.dtype)
        if voc.config.is_feature_vocoder:
            raise PipelineError(f"{resolved.path}: a feature-input (kNN-VC) vocoder cannot vocode "
                                "mels; use it for voice conversion (--vc-vocoder)")
        return voc

    def _mel_frontend(self):
        from vocoder.mel import MelSpectrogram

        return self._once("mel", lambda: MelSpectrogram(audio_config_of(self.mel_vocoder))
                          .to(self.device))

    @property
    def espeak(self):
        """The espeak-ng base voice (:class:`synth.text.EspeakVoice`), loaded on first use."""
        from .text import EspeakVoice

        return self._once("espeak", lambda: EspeakVoice(voice=self.base_voice_name,
                                                        rate=self.speaking_rate))

    @property
    def knnvc(self) -> "KnnVC":
        """The kNN-VC converter (feature extractor + feature vocoder), loaded on first use."""
        return self._once("knnvc", self._load_knnvc)

    def _load_knnvc(self) -> "KnnVC":
        from .features import KNNVC_LAYER, SSLFeatureExtractor, load_extractor
        from .knnvc import KnnVC, KnnVCConfig
        from vocoder.checkpoint import load_generator

        layer = self.layer
        spec = self.extractor_spec
        if isinstance(spec, SSLFeatureExtractor):
            extractor = spec.to(self.device)
        else:
            self._check_kind(spec, "feature_extractor")
            resolved = self.cache.resolve_model(spec)
            if resolved.entry is not None:
                arch, name, entry_layer = resolved.entry.extractor_architecture()
                layer = entry_layer if layer is None else layer
            else:
                arch, name = self.extractor_arch, self.extractor_arch.upper()
            extractor = load_extractor(arch, resolved.path, name=name, device=self.device)
        self._check_kind(self.vc_vocoder_spec, "feature_vocoder")
        resolved = self.cache.resolve_model(self.vc_vocoder_spec)
        if resolved.entry is not None:
            config: Any = resolved.entry.hifigan_config()
        else:
            config = self.vc_vocoder_config
        generator, gen_config = load_generator(resolved.path, config)
        if not gen_config.is_feature_vocoder:
            raise PipelineError(f"{resolved.path}: a mel vocoder cannot do voice conversion; "
                                "give a feature-input (kNN-VC) vocoder")
        generator = generator.to(self.device, self.dtype).requires_grad_(False)
        knn_config = KnnVCConfig(layer=layer or KNNVC_LAYER, k=self.k,
                                 target_loudness=self.target_loudness)
        try:
            return KnnVC(extractor, generator, config=knn_config)
        except ValueError as exc:  # layer out of range, feature sizes that do not match
            raise PipelineError(f"voice conversion models do not fit together: {exc}") from None

    def _check_kind(self, spec: Any, kind: str) -> None:
        """Refuse a registry model of the wrong kind before anything is downloaded."""
        if not isinstance(spec, str) or spec not in self.cache.registry:
            return
        entry = self.cache.registry.get(spec)
        if entry.kind != kind:
            use = {"feature_vocoder": " (a voice-conversion vocoder: use it as --vc-vocoder)",
                   "mel_vocoder": " (use it as --vocoder)",
                   "feature_extractor": " (use it as --extractor)"}[entry.kind]
            raise PipelineError(f"model '{spec}' is a {entry.kind.replace('_', ' ')}, not a "
                                f"{kind.replace('_', ' ')}{use}")

    def load(self, *parts: str) -> "Synthesizer":
        """Load components now instead of on first use: ``"vocoder"``, ``"espeak"``,
        ``"knnvc"`` (default: the vocoder and the base voice). Returns ``self``."""
        for part in parts or ("vocoder", "espeak"):
            if part == "vocoder":
                if self.has_mel_vocoder:
                    self._mel_frontend()
            elif part == "espeak":
                self.espeak  # noqa: B018 - loads it
            elif part == "knnvc":
                self.knnvc  # noqa: B018
            else:
                raise PipelineError(f"unknown component {part!r}: vocoder, espeak or knnvc")
        return self

    def describe(self) -> dict[str, Any]:
        """What is selected and what is loaded (for a UI or a log)."""
        return {"device": str(self.device), "dtype": str(self.dtype).removeprefix("torch."),
                "vocoder": self.vocoder_name, "vc_vocoder": os.fspath(self.vc_vocoder_spec),
                "extractor": (self.extractor_spec if isinstance(self.extractor_spec, str)
                              else type(self.extractor_spec).__name__),
                "loaded": sorted(k for k in self._parts if k != "cache")}

    @property
    def sample_rate(self) -> int:
        """Output rate of the mel vocoder (of the base voice with ``vocoder="none"``)."""
        if not self.has_mel_vocoder:
            return int(self.espeak.sample_rate)
        return audio_config_of(self.mel_vocoder).sampling_rate

    # ------------------------------------------------------------------ building blocks

    def load_input_audio(self, audio: AudioInput, sample_rate: int | None, target_rate: int,
                         what: str = "audio") -> np.ndarray:
        """Mono float32 ``(samples,)`` at ``target_rate``.

        ``audio`` is a file path, an array or tensor with ``sample_rate``, or a tuple
        ``(waveform, sample_rate)`` (Gradio's ``(sample_rate, waveform)`` order works too).
        Float samples are taken as they are ([-1, 1]); integer PCM (int16, int32, uint8) is
        scaled to [-1, 1]. A 2-D array is ``(samples, channels)`` or ``(channels, samples)``,
        whichever axis is at most 8 long, and its channels are averaged.
        """
        if isinstance(audio, (str, os.PathLike)):
            wav, _ = load_audio(audio, sample_rate=target_rate)
            return wav
        if isinstance(audio, tuple):
            if len(audio) != 2:
                raise PipelineError(f"{what}: a tuple must be (waveform, sample_rate)")
            audio, sample_rate = audio
            if isinstance(audio, (int, np.integer)) and not isinstance(sample_rate, (int, np.integer)):
                audio, sample_rate = sample_rate, audio  # (sample_rate, waveform)
        if sample_rate is None:
            raise PipelineError(f"{what}: a waveform needs its sample rate (sample_rate=...)")
        if int(sample_rate) <= 0:
            raise PipelineError(f"{what}: sample rate must be positive, got {sample_rate}")
        wav = audio.detach().cpu().numpy() if isinstance(audio, Tensor) else np.asarray(audio)
        if np.issubdtype(wav.dtype, np.integer):
            wav = _pcm_to_float(wav, what)
        elif not np.issubdtype(wav.dtype, np.floating):
            raise PipelineError(f"{what}: expected float or integer PCM samples, got {wav.dtype}")
        if wav.ndim == 2:
            if 1 in wav.shape:
                wav = wav.reshape(-1)
            elif min(wav.shape) <= 8:
                wav = wav.mean(axis=int(np.argmin(wav.shape)))
        if wav.ndim != 1:
            raise PipelineError(f"{what}: expected mono audio (samples,) or a few channels, got "
                                f"shape {tuple(wav.shape)}")
        if wav.size == 0:
            raise PipelineError(f"{what}: audio has no samples")
        if not np.isfinite(wav).all():
            raise PipelineError(f"{what}: audio contains NaN or infinite samples")
        return resample(wav.astype(np.float32), int(sample_rate), target_rate)

    def mel(self, wav: np.ndarray | Tensor, what: str = "audio") -> Tensor:
        """Log-mel ``(num_mels, samples // hop)`` of mono audio at the vocoder's rate."""
        frontend = self._mel_frontend()
        x = torch.as_tensor(wav, dtype=torch.float32)
        if x.shape[-1] <= frontend.pad:
            seconds = (frontend.pad + 1) / self.sample_rate
            raise PipelineError(f"{what}: too short: {x.shape[-1]} samples; the mel frontend needs "
                                f"more than {frontend.pad} ({seconds * 1000:.0f} ms)")
        with torch.inference_mode():
            return frontend(x.to(self.device))

    def vocode_frames(self, mels: Sequence[np.ndarray | Tensor], *,
                      max_batch_size: int | None = None,
                      max_batch_frames: int | None = None) -> list[np.ndarray]:
        """Mels ``(num_mels, T_i)`` -> waveforms ``(T_i * hop,)``, in length-grouped padded
        batches whose output equals one-by-one vocoding (see :mod:`vocoder.chunking`).
        The limits default to the synthesizer's."""
        voc = self.mel_vocoder
        frames = [voc.check_frames(m, f"mel {i}")[0] for i, m in enumerate(mels)]
        wavs = vocode(voc, frames, exact=False, chunk_frames=self.chunk_frames,
                      max_batch_frames=max_batch_frames or self.max_batch_frames,
                      max_batch_size=max_batch_size or self.max_batch_size)
        return [w.cpu().numpy() for w in wavs]

    def base_speech(self, text: str) -> tuple[np.ndarray, int]:
        """The espeak-ng base voice: normalised, split into sentences joined with pauses.

        Returns float32 ``(samples,)`` and its rate (22050 Hz).

        Raises:
            synth.text.TextError: nothing to speak.
        """
        if not isinstance(text, str):
            raise PipelineError(f"text must be a string, got {type(text).__name__}")
        return self.espeak.speak(text)

    # ------------------------------------------------------------------ the four paths

    def resynthesize(self, audio: AudioInput, sample_rate: int | None = None) -> SynthResult:
        """Copy synthesis: audio -> mel -> vocoder, at the vocoder's sample rate.

        Args:
            audio: file path, mono waveform (with ``sample_rate``), or ``(waveform, rate)``;
                resampled to the vocoder's rate when needed.

        Returns ``floor(samples / hop) * hop`` samples (the mel has ``samples // hop`` frames).
        """
        return self.resynthesize_many([audio], sample_rate)[0]

    def resynthesize_many(self, audios: Sequence[AudioInput],
                          sample_rate: int | None = None) -> list[SynthResult]:
        """:meth:`resynthesize` for many inputs, vocoded in batches."""
        sr = self.sample_rate
        mels = [self.mel(self.load_input_audio(a, sample_rate, sr, _label(a, i)), _label(a, i))
                for i, a in enumerate(audios)]
        return [SynthResult(w, sr) for w in self.vocode_frames(mels)]

    def vocode(self, mel: np.ndarray | Tensor | str | os.PathLike) -> SynthResult:
        """A log-mel from another TTS system -> waveform.

        Args:
            mel: ``(num_mels, frames)`` or ``(1, num_mels, frames)`` array, or a ``.npy`` file
                of one, made with the vocoder's mel settings (natural log, floor 1e-5).
        """
        voc = self.mel_vocoder
        source = "mel"
        if isinstance(mel, (str, os.PathLike)):
            source = os.fspath(mel)
            mel = load_mel_file(mel)
        try:
            frames = voc.check_frames(mel, source)
        except ValueError as exc:
            shape = tuple(np.shape(mel))
            hint = (" (it looks transposed: give (num_mels, frames))"
                    if len(shape) == 2 and shape[1] == voc.input_channels else "")
            raise PipelineError(f"{exc}{hint}") from None
        return SynthResult(self.vocode_frames([frames[0]])[0], self.sample_rate)

    def speak(self, text: str, voice: Voice | None = None, *, k: int | None = None) -> SynthResult:
        """Text -> speech: normalisation, espeak-ng base voice, sentences joined with pauses;
        then the mel vocoder, or with ``voice`` (reference audio, a list of clips, or a saved
        matching set) kNN-VC into that voice. See the module docstring."""
        if voice is None:
            return self.speak_many([text])[0]
        base, sr = self.base_speech(text)
        return self.convert((base, sr), voice, k=k)

    def speak_many(self, texts: Sequence[str]) -> list[SynthResult]:
        """Base-voice speech for many texts, vocoded in batches (no voice conversion)."""
        spoken = [self.base_speech(t) for t in texts]
        if not self.has_mel_vocoder:
            return [SynthResult(a, sr) for a, sr in spoken]
        rate = self.sample_rate
        mels = [self.mel(resample(a, sr, rate), f"text {i}") for i, (a, sr) in enumerate(spoken)]
        return [SynthResult(w, rate) for w in self.vocode_frames(mels)]

    def convert(self, source: AudioInput, voice: Voice, *, k: int | None = None,
                sample_rate: int | None = None) -> SynthResult:
        """Voice conversion (kNN-VC): ``source`` speech spoken in ``voice``.

        Args:
            source: file path, waveform with ``sample_rate``, or ``(waveform, rate)``.
            voice: reference clip path(s) or waveforms, a folder of clips, a saved matching set
                (``.pt``), or a ``MatchingSet``.
            k: neighbours per frame (default: the synthesizer's ``k``).

        Returns audio at the feature vocoder's rate (16 kHz for kNN-VC), loudness-normalised
        to ``target_loudness``.
        """
        vc = self.knnvc
        matching_set = self.load_voice(voice)
        wav = self.load_input_audio(source, sample_rate, vc.extractor.sample_rate, _label(source, 0))
        try:
            out = vc.convert(torch.from_numpy(wav), matching_set, k=k or self.k)
        except ValueError as exc:
            raise PipelineError(str(exc)) from None
        return SynthResult(np.asarray(out, dtype=np.float32), vc.sample_rate)

    # ------------------------------------------------------------------ voices

    def make_voice(self, references: Sequence[AudioInput] | AudioInput) -> "MatchingSet":
        """A matching set (the target voice) from reference clips: paths, a folder of clips,
        waveforms at the extractor's rate, or ``(waveform, rate)`` tuples."""
        vc = self.knnvc
        sources = self._reference_list(references)
        prepared = [s if isinstance(s, (str, os.PathLike))
                    else torch.from_numpy(self.load_input_audio(s, None, vc.extractor.sample_rate,
                                                                f"reference {i}"))
                    for i, s in enumerate(sources)]
        try:
            return vc.build_matching_set(prepared)
        except ValueError as exc:
            if isinstance(exc, AudioError):
                raise
            raise PipelineError(str(exc)) from None

    def save_voice(self, references: Sequence[AudioInput] | AudioInput,
                   path: str | os.PathLike) -> "MatchingSet":
        """:meth:`make_voice` and save it (atomically) for later ``voice=path`` use."""
        matching_set = self.make_voice(references)
        matching_set.save(path)
        return matching_set

    def load_voice(self, voice: Voice) -> "MatchingSet":
        """The matching set for ``voice`` (see :meth:`convert`). File-based voices are kept
        (up to ``max_cached_voices``), keyed by path, size and modification time."""
        from .knnvc import MatchingSet

        vc = self.knnvc
        if isinstance(voice, MatchingSet):
            return voice
        key = _voice_key(voice)
        if key is not None:
            with self._locks["voices"]:
                if key in self._voices:
                    self._voices.move_to_end(key)
                    return self._voices[key]
        if isinstance(voice, (str, os.PathLike)) and Path(voice).suffix.lower() in MATCHING_SET_SUFFIXES:
            result = MatchingSet.load(voice, model=vc.extractor.name, layer=vc.config.layer,
                                      dim=vc.extractor.dim)
        else:
            result = self.make_voice(voice)
        if key is not None:
            with self._locks["voices"]:
                self._voices[key] = result
                while len(self._voices) > self.max_cached_voices:
                    self._voices.popitem(last=False)
        return result

    def _reference_list(self, references: Any) -> list[AudioInput]:
        if isinstance(references, (str, os.PathLike)):
            path = Path(references)
            if path.is_dir():
                clips = list_audio(path)
                if not clips:
                    raise PipelineError(f"{path}: no audio files in the voice folder")
                return list(clips)
            if not path.exists():
                raise PipelineError(f"{path}: voice not found (expected reference audio "
                                    f"({', '.join(AUDIO_EXTENSIONS)}), a folder of clips or a "
                                    "saved voice .pt)")
            if path.suffix.lower() not in AUDIO_EXTENSIONS:
                raise PipelineError(f"{path}: not a voice: expected reference audio "
                                    f"({', '.join(AUDIO_EXTENSIONS)}) or a saved voice (.pt)")
            return [path]
        if isinstance(references, (np.ndarray, Tensor)) or (
                isinstance(references, tuple) and len(references) == 2
                and isinstance(references[1], (int, np.integer))):
            return [references]
        refs = list(references)
        if not refs:
            raise PipelineError("no reference audio given for the voice")
        out: list[AudioInput] = []
        for ref in refs:
            if isinstance(ref, (str, os.PathLike)):
                out.extend(self._reference_list(ref))
            else:
                out.append(ref)
        return out


def load_mel_file(path: str | os.PathLike) -> np.ndarray:
    """A ``.npy`` float array, read without unpickling anything."""
    if not Path(path).is_file():
        raise PipelineError(f"{path}: mel file not found")
    try:
        return load_npy(path)
    except ValueError as exc:
        raise PipelineError(str(exc)) from None


def _pcm_to_float(wav: np.ndarray, what: str) -> np.ndarray:
    """Integer PCM -> float in [-1, 1] (int16 / 32768, uint8 centred on 128, ...)."""
    kind = np.iinfo(wav.dtype)
    if kind.min == 0:  # unsigned: 8-bit WAV style, centred on the middle value
        half = (kind.max + 1) / 2
        return ((wav.astype(np.float64) - half) / half).astype(np.float32)
    if kind.bits > 32:
        raise PipelineError(f"{what}: {wav.dtype} samples are not a PCM format; give float "
                            "samples in [-1, 1] or int16/int32")
    return (wav.astype(np.float64) / -kind.min).astype(np.float32)


def _config(value: str | os.PathLike | HiFiGANConfig) -> HiFiGANConfig:
    from vocoder.checkpoint import resolve_config

    return resolve_config("", value)[0]


def _label(audio: Any, index: int) -> str:
    return os.fspath(audio) if isinstance(audio, (str, os.PathLike)) else f"audio {index}"


def _voice_key(voice: Any) -> tuple | None:
    """A cache key for file-based voices (path, size, mtime of each file); else ``None``."""
    paths: list[Path] = []
    if isinstance(voice, (str, os.PathLike)):
        paths = [Path(voice)]
    elif isinstance(voice, (list, tuple)) and voice and all(
            isinstance(v, (str, os.PathLike)) for v in voice):
        paths = [Path(v) for v in voice]
    else:
        return None
    key = []
    for p in paths:
        try:
            if p.is_dir():
                files = list_audio(p)
            else:
                files = [p]
            for f in files:
                st = f.stat()
                key.append((str(f.resolve()), st.st_size, st.st_mtime_ns))
        except OSError:
            return None
    return tuple(key)


__all__ = ["AudioInput", "DEFAULT_EXTRACTOR", "DEFAULT_MEL_VOCODER", "DEFAULT_VC_VOCODER",
           "GRIFFINLIM", "MelVocoder", "NO_VOCODER", "PipelineError", "SynthResult",
           "Synthesizer", "Voice", "audio_config_of", "load_mel_file"]
