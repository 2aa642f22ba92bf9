"""``Synthesizer``: the one object the app, the ``synth`` command and Python users share.

It runs loaded parts - a frontend (audio, a mel file, text through an acoustic model such as
Tacotron2 or through the espeak-ng base voice, or source speech for voice conversion) and a
vocoder - and returns a :class:`SynthResult` (audio and sample rate). The parts come from a
:class:`synth.hub.ModelHub` (loaded once, shared, memory-bounded); what to use is a
:class:`SynthConfig`; the mel vocoder and the acoustic model can be chosen per call::

    synth = Synthesizer.from_pretrained()                # hifigan-v3-ljspeech, device auto
    synth.speak("Hello there.").save("hello.wav")        # Tacotron2 (or espeak-ng) -> vocoder
    synth.speak("Hello there.", seed=7)                  # ... reproducibly
    synth.speak("Hello there.", vocoder="griffinlim")    # ... through another vocoder
    synth.speak("Hello there.", acoustic="espeak")       # ... from the espeak-ng base voice
    synth.speak("Hello there.", voice="me.pt")           # ... converted into a saved voice
    synth.resynthesize("in.wav")                         # audio -> mel -> vocoder
    synth.vocode("tacotron_mel.npy")                     # mel from another TTS system
    synth.convert("src.wav", ["ref1.wav", "ref2.wav"])   # kNN-VC voice conversion

    hub = ModelHub(cache, device="cuda", max_bytes=4 << 30)   # or build the parts yourself
    synth = Synthesizer(hub, SynthConfig(k=8, loudness=None))

Mel vocoder choices (``SynthConfig.vocoder`` or ``vocoder=`` of a call): a registry name, a
checkpoint path of any family (its config files beside it; ``vocoder_config`` for the
configured one), a :class:`~synth.hub.ModelSpec`, a ready
:class:`~vocoder.families.LoadedVocoder` or vocoder object, ``"griffinlim"`` (Griffin-Lim
inversion of the mel: no weights, low quality; only when asked for by name, never as a
fallback) or ``"none"`` (no mel vocoder: :meth:`Synthesizer.speak` then returns the base
voice's own audio; resynthesis and vocoding raise :class:`PipelineError`).

Each vocoder comes with the mel it was trained on (:attr:`LoadedVocoder.frontend`: HiFi-GAN's,
SpeechBrain's, ESPnet's log10 mel, Coqui's normalised dB mel...), so audio, text and batch
sources go through the mel the chosen vocoder expects, and batches of different lengths are
padded with that mel's silence (:attr:`LoadedVocoder.silence`). A ready vocoder object given
without its frontend is taken to expect HiFi-GAN's mel.

How ``speak`` makes speech (``acoustic=`` of a call, else ``SynthConfig.acoustic``):

- **An acoustic model** (Tacotron2: a registry name such as ``tacotron2-characters-ljspeech``,
  a torchaudio Tacotron2 ``.pth`` file, or a ready :class:`~synth.acoustic.AcousticModel`):
  text -> normalised sentences -> one batched call -> mel (:func:`synth.acoustic.text_to_mel`,
  seeded: ``seed=N`` gives the same mel every time) -> the mel vocoder. The vocoder must take
  the mel the model makes (:func:`synth.acoustic.check_mel_pairing` refuses another STFT or
  value scale before anything is vocoded). With a ``voice``, that speech is then converted
  with kNN-VC into the voice (16 kHz).
- **``"espeak"``**: the espeak-ng base voice makes 22.05 kHz audio; without a ``voice`` that
  audio is resampled to the mel vocoder's rate and goes through mel -> mel vocoder, so the
  vocoder chosen is the one heard. With a ``voice`` it goes through kNN-VC instead; the mel
  vocoder is not involved.
- **``"auto"``** (the default): the first of
  :data:`~synth.defaults.DEFAULT_ACOUSTIC_MODELS` whose weights are in the model cache (or
  already loaded), else ``"espeak"`` (and ``"espeak"`` with the vocoder ``"none"``). Nothing
  is downloaded for ``auto``; :meth:`Synthesizer.pick_acoustic` says what it picks.

The result records what made it (:attr:`SynthResult.acoustic`), the mel that was vocoded
(:attr:`SynthResult.mel`) and, for an acoustic model, its :class:`~synth.acoustic.Speech`
(sentences, attention alignments, the seed).

Every method may be called from several threads at once: inference keeps no state between
calls, and the hub loads each model once.
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from vocoder.audio import MAX_SECONDS, AudioError, resample, save_wav
from vocoder.errors import InputError
from vocoder.families.loaded import LoadedVocoder
from vocoder.frames import load_npy
from vocoder.inference import FrameVocoder, vocode

from .audio import AudioInput, load_input_audio
from .defaults import (AUTO_ACOUSTIC, DEFAULT_ACOUSTIC_MODELS, DEFAULT_EXTRACTOR,
                       DEFAULT_EXTRACTOR_ARCH, DEFAULT_MEL_VOCODER, DEFAULT_VC_VOCODER, ESPEAK,
                       GRIFFINLIM, KNNVC_LAYER, MAX_TEXT_CHARS, NO_VOCODER)
from .hub import ModelHub, ModelSpec
from .voices import Voice, VoiceStore, is_saved_voice, reference_list

if TYPE_CHECKING:  # only for annotations: synth.knnvc loads torchaudio's wav2vec2 models
    from .acoustic import AcousticModel, Speech
    from .knnvc import KnnVC, MatchingSet

#: A mel vocoder as a call may choose it (``None``: the configured one).
VocoderChoice = Union[str, os.PathLike, ModelSpec, LoadedVocoder, FrameVocoder, None]
#: An acoustic model as a call may choose it (``None``: the configured one): ``"auto"``,
#: ``"espeak"``, a registry name, a file, a spec, or a ready model.
AcousticChoice = Union[str, os.PathLike, ModelSpec, "AcousticModel", None]
#: What the espeak-ng base voice is called in :attr:`SynthResult.acoustic`.
ESPEAK_LABEL = "espeak-ng"


class PipelineError(InputError):
    """Input or settings the pipeline cannot use; the message says what and how to fix it.

    ``key`` names the :class:`SynthConfig` limit the error is about (``"max_text_chars"``),
    when it is about one, so a front end can name its own option.
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class SynthResult:
    """Synthesised speech: mono float32 ``audio`` ``(samples,)`` in [-1, 1] at ``sample_rate`` Hz.

    (Voice conversion normalises loudness, so its samples may slightly exceed [-1, 1];
    :meth:`save` clips.)

    Text to speech also says how it was made:

    Attributes:
        acoustic: what turned the text into speech: an acoustic model's name (registry name
            or file name) or ``"espeak-ng"``; ``""`` for other paths.
        mel: the mel that was vocoded, float32 ``(num_mels, frames)`` on the CPU (the
            acoustic model's, or the mel of the base voice's audio); ``None`` when no mel
            vocoder ran (the base voice converted into a voice, or the vocoder ``"none"``).
        speech: the acoustic model's :class:`~synth.acoustic.Speech` (sentences, their
            attention alignments and start frames, the seed); ``None`` for the base voice.
    """

    audio: np.ndarray
    sample_rate: int
    acoustic: str = ""
    mel: Tensor | None = None
    speech: "Speech | None" = None

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate

    def save(self, path: str | os.PathLike) -> None:
        """Write a 16-bit PCM WAV file atomically."""
        save_wav(path, self.audio, self.sample_rate)


@dataclass(frozen=True)
class SynthConfig:
    """What a :class:`Synthesizer` uses (the models are named here and loaded by its hub).

    Attributes:
        vocoder: the default mel vocoder: registry name, checkpoint path, ``"griffinlim"``
            or ``"none"``.
        vocoder_config: config for a ``vocoder`` path (``config.json`` path or preset; default
            ``config.json`` beside it); for ``"griffinlim"`` the mel settings to invert
            (default: the published 22.05 kHz, 80-band settings).
        acoustic: text -> speech: ``"auto"`` (Tacotron2 when its weights are in the cache,
            else the base voice), ``"espeak"`` (the espeak-ng base voice), a registry name
            of an acoustic model or a torchaudio Tacotron2 ``.pth`` path.
        vc_vocoder, vc_vocoder_config: feature vocoder for voice conversion and a config for
            a path.
        extractor: SSL feature extractor: registry name, torchaudio weights path, or a
            Hugging Face model directory (``config.json`` and weights; only layers
            ``1..layer`` of its model are loaded).
        extractor_arch: architecture of an ``extractor`` weights path: a torchaudio bundle
            name or a JSON file of factory arguments (a directory's is in its config.json).
        layer: feature layer for kNN-VC (default: the registry entry's, else 6).
        k: neighbours averaged per frame in kNN-VC.
        loudness: loudness of converted speech in LUFS (``None``: as it comes).
        base_voice, speaking_rate: espeak-ng voice name and words per minute (80..450).
        griffinlim_iters: Griffin-Lim iterations.
        max_batch_frames: padded mel frames per vocoder call (``None``: 4000 on CPU, about
            46 s of 22.05 kHz audio; 32000 on GPU).
        max_batch_size: utterances per vocoder call.
        chunk_frames: longer mels are vocoded in chunks of this many frames (same output).
        voices_kept: matching sets made from files that are kept for reuse.
        max_text_chars: longest text spoken at once (``None``: no limit); the base voice's
            audio, its mel and the vocoder's output are held whole, about 50 kB per character.
        max_audio_seconds: longest audio file read, and longest mel vocoded (``None``: no
            limit).
    """

    vocoder: str = DEFAULT_MEL_VOCODER
    vocoder_config: str | None = None
    acoustic: str = AUTO_ACOUSTIC
    vc_vocoder: str = DEFAULT_VC_VOCODER
    vc_vocoder_config: str | None = None
    extractor: str = DEFAULT_EXTRACTOR
    extractor_arch: str = DEFAULT_EXTRACTOR_ARCH
    layer: int | None = None
    k: int = 4
    loudness: float | None = -16.0
    base_voice: str = "en-us"
    speaking_rate: int = 175
    griffinlim_iters: int = 32
    max_batch_frames: int | None = None
    max_batch_size: int = 64
    chunk_frames: int = 2000
    voices_kept: int = 8
    max_text_chars: int | None = MAX_TEXT_CHARS
    max_audio_seconds: float | None = MAX_SECONDS

    def __post_init__(self) -> None:
        for f in fields(self):  # paths are kept as strings
            value = getattr(self, f.name)
            if isinstance(value, os.PathLike):
                object.__setattr__(self, f.name, os.fspath(value))

    def validate(self) -> "SynthConfig":
        """Check the settings; returns ``self``. Raises :class:`PipelineError` naming the
        setting, the allowed values and the value given."""
        checks = [("k", self.k >= 1, "at least 1"),
                  ("layer", self.layer is None or self.layer >= 1, "at least 1 or None"),
                  ("speaking_rate", 80 <= self.speaking_rate <= 450,
                   "80..450 words per minute"),
                  ("griffinlim_iters", self.griffinlim_iters >= 1, "at least 1"),
                  ("max_batch_frames", self.max_batch_frames is None or self.max_batch_frames >= 1,
                   "at least 1 or None"),
                  ("max_batch_size", self.max_batch_size >= 1, "at least 1"),
                  ("chunk_frames", self.chunk_frames >= 1, "at least 1"),
                  ("voices_kept", self.voices_kept >= 0, "0 or more"),
                  ("max_text_chars", self.max_text_chars is None or self.max_text_chars >= 1,
                   "at least 1 or None"),
                  ("max_audio_seconds",
                   self.max_audio_seconds is None or self.max_audio_seconds > 0,
                   "positive or None")]
        for name, ok, allowed in checks:
            if not ok:
                raise PipelineError(f"{name} must be {allowed}, got {getattr(self, name)}")
        return self

    def vocoder_spec(self, choice: str | os.PathLike | ModelSpec | None = None
                     ) -> ModelSpec | None:
        """The spec of a mel vocoder choice (``None``: the configured one); ``None`` for
        ``"none"``. The configured ``vocoder_config`` goes with the configured vocoder."""
        if isinstance(choice, ModelSpec):
            return choice
        source = self.vocoder if choice is None else os.fspath(choice)
        if source.strip().lower() == NO_VOCODER:
            return None
        config = self.vocoder_config if source == self.vocoder else None
        if source.strip().lower() == GRIFFINLIM:
            return ModelSpec.make("mel_vocoder", GRIFFINLIM, config, n_iter=self.griffinlim_iters)
        return ModelSpec.make("mel_vocoder", source, config)

    def acoustic_spec(self, choice: str | os.PathLike | ModelSpec | None = None
                      ) -> ModelSpec | None:
        """The spec of an acoustic-model choice (``None``: the configured one); ``None`` for
        ``"espeak"``. ``"auto"`` is not a spec: :meth:`Synthesizer.pick_acoustic` resolves
        it first."""
        if isinstance(choice, ModelSpec):
            return choice
        source = self.acoustic if choice is None else os.fspath(choice)
        if source.strip().lower() == ESPEAK:
            return None
        if source.strip().lower() == AUTO_ACOUSTIC:
            raise PipelineError("'auto' names no acoustic model: resolve it with "
                                "Synthesizer.pick_acoustic first")
        return ModelSpec.make("acoustic_model", source)

    @property
    def extractor_spec(self) -> ModelSpec:
        from .loaders import feature_extractor_spec

        return feature_extractor_spec(self.extractor, self.extractor_arch,
                                      self.layer or KNNVC_LAYER)

    @property
    def vc_vocoder_spec(self) -> ModelSpec:
        return ModelSpec.make("feature_vocoder", self.vc_vocoder, self.vc_vocoder_config)

    @property
    def base_voice_spec(self) -> ModelSpec:
        return ModelSpec.make("base_voice", self.base_voice, rate=self.speaking_rate)


class Synthesizer:
    """Text, audio, mel files and voice conversion through HiFi-GAN vocoders.

    Args:
        hub: where the models come from (device, dtype, cache, memory bound).
        config: which models and settings (default :class:`SynthConfig`).

    Nothing is loaded here: each part is loaded by the hub when a method first needs it
    (:meth:`load` loads them up front).
    """

    def __init__(self, hub: ModelHub, config: SynthConfig | None = None) -> None:
        self.hub = hub
        self.config = (config or SynthConfig()).validate()
        self.max_batch_frames = self.config.max_batch_frames or (
            32000 if hub.device.type == "cuda" else 4000)
        self._voices = VoiceStore(self.config.voices_kept)
        self._frontends: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._frontends_lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, vocoder: str | os.PathLike = DEFAULT_MEL_VOCODER, *,
                        device: str | torch.device = "auto", dtype: str = "float32",
                        max_model_bytes: int | None = None, **settings: Any) -> "Synthesizer":
        """A synthesizer over the model cache the environment names, like the ``synth``
        command's (``HIFISYNTH_HOME``, default ``~/.cache/hifisynth``; ``HIFISYNTH_OFFLINE``;
        ``HIFISYNTH_REGISTRY``): registry models are downloaded on first use.

        Args:
            vocoder: the default mel vocoder (see :class:`SynthConfig`).
            device, dtype, max_model_bytes: the hub's (see :class:`synth.hub.ModelHub`).
            settings: other :class:`SynthConfig` fields (``k=8``, ``loudness=None``...).
        """
        hub = ModelHub.from_env(device=device, dtype=dtype, max_bytes=max_model_bytes)
        return cls(hub, SynthConfig(vocoder=os.fspath(vocoder), **settings))

    @property
    def device(self) -> torch.device:
        return self.hub.device

    @property
    def dtype(self) -> torch.dtype:
        return self.hub.dtype

    # ------------------------------------------------------------------ parts

    def has_mel_vocoder(self, vocoder: VocoderChoice = None) -> bool:
        """False for ``"none"`` (the configured vocoder, or the one given)."""
        if vocoder is not None and not isinstance(vocoder, (str, os.PathLike, ModelSpec)):
            return True  # a ready vocoder object
        return self.config.vocoder_spec(vocoder) is not None

    def loaded_vocoder(self, vocoder: VocoderChoice = None) -> LoadedVocoder:
        """The mel vocoder for a choice (``None``: the configured one) with the frontend that
        makes the mel it takes, loaded on first use.

        Raises:
            PipelineError: ``"none"``.
            ModelKindError: a registry model or file that is not a mel vocoder.
            ModelError: not found, not cached and not downloadable (the message says how to
                place the file).
        """
        if isinstance(vocoder, LoadedVocoder):
            return vocoder
        if vocoder is not None and not isinstance(vocoder, (str, os.PathLike, ModelSpec)):
            return self._with_frontend(vocoder)
        spec = self.config.vocoder_spec(vocoder)
        if spec is None:
            raise PipelineError(f"no mel vocoder is selected ('{NO_VOCODER}'): choose one, e.g. "
                                f"'{DEFAULT_MEL_VOCODER}' or '{GRIFFINLIM}', to resynthesise or "
                                "vocode mels")
        component = self.hub.load(spec)
        return component if isinstance(component, LoadedVocoder) \
            else self._with_frontend(component)

    def _with_frontend(self, voc: FrameVocoder) -> LoadedVocoder:
        """A ready vocoder object given alone, with HiFi-GAN's mel (made once per object)."""
        from vocoder.mel import HiFiGANMel

        with self._frontends_lock:  # keyed weakly by the vocoder, so it holds no reference to it
            frontend = self._frontends.get(voc)
            if frontend is None:
                frontend = self._frontends[voc] = HiFiGANMel(voc.audio).to(voc.device)
        return LoadedVocoder(voc, frontend, "hifigan", "given vocoder")

    def mel_vocoder(self, vocoder: VocoderChoice = None) -> FrameVocoder:
        """The mel vocoder for a choice (``None``: the configured one), loaded on first use
        (:meth:`loaded_vocoder`'s ``.vocoder``)."""
        return self.loaded_vocoder(vocoder).vocoder

    def sample_rate_of(self, vocoder: VocoderChoice = None) -> int:
        """Output rate of a mel vocoder choice (of the base voice for ``"none"``)."""
        if not self.has_mel_vocoder(vocoder):
            return int(self.espeak.sample_rate)
        return self.mel_vocoder(vocoder).sample_rate

    @property
    def sample_rate(self) -> int:
        """Output rate of the configured mel vocoder (of the base voice with ``"none"``)."""
        return self.sample_rate_of(None)

    def mel_frontend(self, vocoder: VocoderChoice = None):
        """The :class:`vocoder.mel.MelFrontend` that makes the mels ``vocoder`` takes (its
        family's mel)."""
        return self.loaded_vocoder(vocoder).frontend

    @property
    def espeak(self):
        """The espeak-ng base voice (:class:`synth.text.EspeakVoice`)."""
        return self.hub.load(self.config.base_voice_spec)

    @property
    def knnvc(self) -> "KnnVC":
        """The kNN-VC converter (feature extractor + feature vocoder, with ``k``, ``layer`` and
        ``loudness`` from the config). Both models are fetched first, so when both are
        missing the error names both."""
        from .knnvc import KnnVC, KnnVCConfig
        from .loaders import check_extractor_backend, default_layer

        extractor_spec, vocoder_spec = self.config.extractor_spec, self.config.vc_vocoder_spec
        check_extractor_backend(self.hub, extractor_spec)  # a broken torchaudio says so first
        self.hub.fetch([extractor_spec, vocoder_spec])  # kinds checked first, then files
        extractor = self.hub.load(extractor_spec)
        generator = self.hub.load(vocoder_spec)
        layer = self.config.layer or default_layer(self.hub, extractor_spec) or KNNVC_LAYER
        settings = KnnVCConfig(layer=layer, k=self.config.k, target_loudness=self.config.loudness,
                               max_audio_seconds=self.config.max_audio_seconds)
        try:
            return KnnVC(extractor, generator, config=settings)
        except ValueError as exc:  # layer out of range, feature sizes that do not match
            raise PipelineError(f"voice conversion models do not fit together: {exc}") from None

    # ------------------------------------------------------------------ acoustic models

    def pick_acoustic(self, acoustic: AcousticChoice = None, vocoder: VocoderChoice = None
                      ) -> "str | ModelSpec | AcousticModel":
        """What an acoustic-model choice (``None``: the configured one) means for text to
        speech with ``vocoder``: a :class:`~synth.hub.ModelSpec` of an acoustic model, a
        ready model as it is, or ``"espeak"`` (the base voice). ``"auto"`` picks the first of
        :data:`~synth.defaults.DEFAULT_ACOUSTIC_MODELS` that is loaded or whose files are in
        the model cache (nothing is downloaded or hashed), else ``"espeak"``; with the
        vocoder ``"none"`` it is ``"espeak"``."""
        if acoustic is not None and not isinstance(acoustic, (str, os.PathLike, ModelSpec)):
            return acoustic
        choice = self.config.acoustic if acoustic is None else acoustic
        if isinstance(choice, ModelSpec) or os.fspath(choice).strip().lower() != AUTO_ACOUSTIC:
            spec = self.config.acoustic_spec(choice)
            return ESPEAK if spec is None else spec
        if not self.has_mel_vocoder(vocoder):
            return ESPEAK
        registry = self.hub.cache.registry
        for name in DEFAULT_ACOUSTIC_MODELS:
            spec = ModelSpec.make("acoustic_model", name)
            if self.hub.is_held(spec) or (name in registry
                                          and self.hub.cache.status(name).present):
                return spec
        return ESPEAK

    def acoustic_model(self, acoustic: AcousticChoice = None, vocoder: VocoderChoice = None
                       ) -> "AcousticModel | None":
        """The acoustic model a choice picks (:meth:`pick_acoustic`), loaded on first use;
        ``None`` for the espeak-ng base voice.

        Raises:
            ModelKindError: a registry model or file that is not an acoustic model.
            ModelError: not found, not cached and not downloadable.
        """
        picked = self.pick_acoustic(acoustic, vocoder)
        if isinstance(picked, str):
            return None
        return self.hub.load(picked) if isinstance(picked, ModelSpec) else picked

    def check_pairing(self, model: "AcousticModel", vocoder: VocoderChoice = None
                      ) -> LoadedVocoder:
        """The mel vocoder for a choice, refused unless it takes the mel ``model`` makes (the
        same STFT and mel-band settings, and the same value scale: natural log).

        Raises:
            PipelineError: the vocoder ``"none"``.
            synth.acoustic.MelMismatchError: another mel (WaveRNN's, ESPnet's log10 mel,
                Coqui's dB mel...); the message says what differs.
        """
        from .acoustic import check_mel_pairing

        if not self.has_mel_vocoder(vocoder):
            raise PipelineError(f"{model.name} makes mels: it needs a mel vocoder, not "
                                f"'{NO_VOCODER}'")
        loaded = self.loaded_vocoder(vocoder)
        check_mel_pairing(model, loaded, self._vocoder_label(vocoder, loaded))
        return loaded

    def text_to_mel(self, texts: Sequence[str], *, acoustic: AcousticChoice = None,
                    seed: int | Sequence[int] | None = None) -> list["Speech"]:
        """Texts -> one :class:`~synth.acoustic.Speech` each with the acoustic model a choice
        picks (:func:`synth.acoustic.text_to_mel`: normalised, split into sentences, one
        batched call, joined with pauses). ``seed``: one for all texts or one per text
        (``None``: a new one, recorded in each result).

        Raises:
            PipelineError: the choice picks the espeak-ng base voice, which makes audio.
            synth.text.TextError: empty text, or letters the model cannot read.
            synth.acoustic.DecoderStopError: a sentence the model does not finish.
        """
        from .acoustic import text_to_mel

        self._check_texts(texts)
        model = self.acoustic_model(acoustic)
        if model is None:
            raise PipelineError("the espeak-ng base voice makes audio, not mels: choose an "
                                "acoustic model (e.g. a Tacotron2)")
        return text_to_mel(model, list(texts), seed)

    def _vocoder_label(self, choice: VocoderChoice, loaded: LoadedVocoder) -> str:
        """How messages name a vocoder choice."""
        if isinstance(choice, ModelSpec):
            return choice.label
        if isinstance(choice, (str, os.PathLike)) or choice is None:
            spec = self.config.vocoder_spec(choice)
            if spec is not None:
                return spec.label
        return f"the given {loaded.family} vocoder"

    def load(self, *parts: str, vocoder: VocoderChoice = None) -> "Synthesizer":
        """Load parts now instead of on first use: ``"vocoder"`` (the configured one, or
        ``vocoder``), ``"acoustic"`` (the configured acoustic model, if it picks one),
        ``"espeak"``, ``"knnvc"`` (default: the vocoder, the acoustic model and the base
        voice). Returns ``self``."""
        for part in parts or ("vocoder", "acoustic", "espeak"):
            if part == "vocoder":
                if self.has_mel_vocoder(vocoder):
                    self.loaded_vocoder(vocoder)
            elif part == "acoustic":
                self.acoustic_model(vocoder=vocoder)
            elif part == "espeak":
                self.espeak  # noqa: B018 - loads it
            elif part == "knnvc":
                self.knnvc  # noqa: B018
            else:
                raise PipelineError(f"unknown part {part!r}: vocoder, acoustic, espeak or knnvc")
        return self

    def describe(self) -> dict[str, Any]:
        """What is configured and which of its parts are loaded (for a UI or a log)."""
        held = self.hub.is_held
        spec = self.config.vocoder_spec()
        acoustic = self.pick_acoustic()
        loaded = [name for name, ok in (
            ("vocoder", spec is not None and held(spec)),
            ("acoustic", isinstance(acoustic, ModelSpec) and held(acoustic)),
            ("espeak", held(self.config.base_voice_spec)),
            ("knnvc", held(self.config.extractor_spec) and held(self.config.vc_vocoder_spec)))
            if ok]
        return {"device": str(self.device), "dtype": str(self.dtype).removeprefix("torch."),
                "vocoder": self.config.vocoder, "acoustic": self.config.acoustic,
                "vc_vocoder": self.config.vc_vocoder,
                "extractor": self.config.extractor, "loaded": loaded,
                "model_bytes": self.hub.nbytes}

    # ------------------------------------------------------------------ building blocks

    def mel(self, wav: np.ndarray | Tensor, what: str = "audio", *,
            vocoder: VocoderChoice = None) -> Tensor:
        """The mel ``vocoder`` takes, ``(num_mels, frames)``, of mono audio at its rate
        (``frames = frontend.num_frames(samples)``: ``samples // hop`` for HiFi-GAN's mel,
        ``1 + samples // hop`` for the centred mels of SpeechBrain, ESPnet and Coqui)."""
        from vocoder.melchunks import chunked_mel

        loaded = self.loaded_vocoder(vocoder)
        frontend = loaded.frontend
        x = torch.as_tensor(wav, dtype=torch.float32)
        if x.shape[-1] < frontend.min_samples:
            seconds = frontend.min_samples / loaded.vocoder.sample_rate
            raise PipelineError(f"{what}: too short: {x.shape[-1]} samples; the mel frontend needs "
                                f"at least {frontend.min_samples} ({seconds * 1000:.0f} ms)")
        with torch.inference_mode():  # in chunks: long audio never holds its whole STFT
            return chunked_mel(frontend, x)

    def vocode_frames(self, mels: Sequence[np.ndarray | Tensor], *, vocoder: VocoderChoice = None,
                      max_batch_size: int | None = None,
                      max_batch_frames: int | None = None) -> list[np.ndarray]:
        """Mels ``(num_mels, T_i)`` -> waveforms ``(T_i * hop,)``, in length-grouped padded
        batches whose output equals one-by-one vocoding (see :mod:`vocoder.chunking`); the
        padding is the silence of the vocoder's mel. The limits default to the config's."""
        loaded = self.loaded_vocoder(vocoder)
        voc = loaded.vocoder
        frames = [voc.check_frames(m, f"mel {i}")[0] for i, m in enumerate(mels)]
        wavs = vocode(voc, frames, exact=False, chunk_frames=self.config.chunk_frames,
                      max_batch_frames=max_batch_frames or self.max_batch_frames,
                      max_batch_size=max_batch_size or self.config.max_batch_size,
                      pad_value=loaded.silence)
        return [w.cpu().numpy() for w in wavs]

    def _check_texts(self, texts: Sequence[str]) -> None:
        """Texts must be a sequence of strings, each within ``config.max_text_chars``."""
        if isinstance(texts, str):
            raise PipelineError("texts must be a list of strings, not one string")
        limit = self.config.max_text_chars
        for text in texts:
            if not isinstance(text, str):
                raise PipelineError(f"text must be a string, got {type(text).__name__}")
            if limit is not None and len(text) > limit:
                raise PipelineError(f"text of {len(text):,} characters is longer than the limit "
                                    f"of {limit:,} (split it, e.g. one utterance per manifest "
                                    "line)", key="max_text_chars")

    def base_speech(self, text: str) -> tuple[np.ndarray, int]:
        """The espeak-ng base voice: normalised, split into sentences joined with pauses.

        Returns float32 ``(samples,)`` and its rate (22050 Hz).

        Raises:
            synth.text.TextError: nothing to speak.
        """
        self._check_texts([text])
        return self.espeak.speak(text)

    # ------------------------------------------------------------------ the four paths

    def resynthesize(self, audio: AudioInput, sample_rate: int | None = None, *,
                     vocoder: VocoderChoice = None) -> SynthResult:
        """Copy synthesis: audio -> mel -> vocoder, at the vocoder's sample rate.

        Args:
            audio: any input :func:`synth.audio.load_input_audio` takes (file path, waveform
                with ``sample_rate``, ``(waveform, rate)``); resampled to the vocoder's rate.
            vocoder: the mel vocoder (default: the configured one).

        Returns ``frames * hop`` samples, ``frames`` being the frames the vocoder's mel makes
        of the input (``samples // hop`` for HiFi-GAN's, ``1 + samples // hop`` for a centred
        mel).
        """
        return self.resynthesize_many([audio], sample_rate, vocoder=vocoder)[0]

    def resynthesize_many(self, audios: Sequence[AudioInput], sample_rate: int | None = None, *,
                          vocoder: VocoderChoice = None) -> list[SynthResult]:
        """:meth:`resynthesize` for many inputs, vocoded in batches."""
        loaded = self.loaded_vocoder(vocoder)
        rate = loaded.vocoder.sample_rate
        mels = []
        for i, audio in enumerate(audios):
            label = _label(audio, i)
            wav, _ = load_input_audio(audio, sample_rate, target_rate=rate, what=label,
                                      max_seconds=self.config.max_audio_seconds)
            mels.append(self.mel(wav, label, vocoder=loaded))
        return [SynthResult(w, rate) for w in self.vocode_frames(mels, vocoder=loaded)]

    def vocode(self, mel: np.ndarray | Tensor | str | os.PathLike, *,
               vocoder: VocoderChoice = None) -> SynthResult:
        """A log-mel from another TTS system -> waveform.

        Args:
            mel: ``(num_mels, frames)`` or ``(1, num_mels, frames)`` array, or a ``.npy`` file
                of one, in the mel the vocoder takes: its family's (HiFi-GAN's natural log
                with floor 1e-5 for the published and BigVGAN vocoders; see
                :mod:`vocoder.families` for the others).
            vocoder: the mel vocoder (default: the configured one).
        """
        loaded = self.loaded_vocoder(vocoder)
        voc = loaded.vocoder
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
        seconds = frames.shape[-1] * voc.upsample_factor / voc.sample_rate
        limit = self.config.max_audio_seconds
        if limit is not None and seconds > limit:
            raise PipelineError(f"{source}: {frames.shape[-1]} frames make {seconds:.1f} s of "
                                f"audio, longer than the limit of {limit:g} s",
                                key="max_audio_seconds")
        return SynthResult(self.vocode_frames([frames[0]], vocoder=loaded)[0], voc.sample_rate)

    def speak(self, text: str, voice: Voice | None = None, *, vocoder: VocoderChoice = None,
              acoustic: AcousticChoice = None, seed: int | None = None,
              k: int | None = None) -> SynthResult:
        """Text -> speech (see the module docstring).

        Args:
            text: English text (normalised: numbers, dates, currency, abbreviations).
            voice: reference audio, a list of clips, a folder of clips, or a saved matching
                set: the speech is converted into that voice with kNN-VC (16 kHz).
            vocoder: the mel vocoder (default: the configured one).
            acoustic: ``"auto"``, ``"espeak"``, an acoustic model's registry name or file, or
                a ready model (default: the configured one, ``"auto"``).
            seed: an acoustic model's random draws (Tacotron2's prenet dropout): the same
                text, seed, models and device give the same mel (``None``: a new seed,
                recorded in ``result.speech.seed``). The base voice has none.
            k: kNN-VC neighbours (default: the config's).

        Returns:
            :class:`SynthResult`: audio at the vocoder's rate (16 kHz with a voice), what made
            it (``acoustic``), the mel that was vocoded (``mel``) and the acoustic model's
            :class:`~synth.acoustic.Speech` (``speech``).

        Raises:
            synth.text.TextError: empty text, or letters the acoustic model cannot read.
            synth.acoustic.MelMismatchError: a vocoder trained on another mel than the
                acoustic model's (checked before anything runs).
            synth.acoustic.DecoderStopError: a sentence the acoustic model does not finish.
        """
        self._check_texts([text])
        model = self.acoustic_model(acoustic, vocoder)
        if model is not None:
            loaded = self.check_pairing(model, vocoder)  # before anything runs
        if voice is not None:
            matching_set = self.load_voice(voice)  # a bad voice or missing models fail first
        if model is None:
            if voice is None:
                return self.speak_many([text], vocoder=vocoder, acoustic=ESPEAK)[0]
            base, sr = self.base_speech(text)
            return replace(self.convert((base, sr), matching_set, k=k), acoustic=ESPEAK_LABEL)
        (result,) = self._speak_acoustic(model, [text], loaded, seed)
        if voice is None:
            return result
        converted = self.convert((result.audio, result.sample_rate), matching_set, k=k)
        return replace(converted, acoustic=result.acoustic, mel=result.mel, speech=result.speech)

    def speak_many(self, texts: Sequence[str], *, vocoder: VocoderChoice = None,
                   acoustic: AcousticChoice = None, seed: int | Sequence[int] | None = None
                   ) -> list[SynthResult]:
        """:meth:`speak` for many texts (no voice conversion): an acoustic model decodes all
        their sentences in one batched call (``seed`` for all texts or one per text), and the
        mels are vocoded in batches."""
        self._check_texts(texts)
        model = self.acoustic_model(acoustic, vocoder)
        if model is not None:
            return self._speak_acoustic(model, texts, self.check_pairing(model, vocoder), seed)
        spoken = [self.base_speech(t) for t in texts]
        if not self.has_mel_vocoder(vocoder):
            return [SynthResult(a, sr, acoustic=ESPEAK_LABEL) for a, sr in spoken]
        loaded = self.loaded_vocoder(vocoder)
        rate = loaded.vocoder.sample_rate
        mels = [self.mel(resample(a, sr, rate), f"text {i}", vocoder=loaded)
                for i, (a, sr) in enumerate(spoken)]
        wavs = self.vocode_frames(mels, vocoder=loaded)
        return [SynthResult(w, rate, acoustic=ESPEAK_LABEL, mel=m.float().cpu())
                for w, m in zip(wavs, mels)]

    def _speak_acoustic(self, model: "AcousticModel", texts: Sequence[str],
                        loaded: LoadedVocoder, seed: int | Sequence[int] | None
                        ) -> list[SynthResult]:
        """Texts -> acoustic model -> ``loaded`` (a vocoder :meth:`check_pairing` passed)."""
        from .acoustic import text_to_mel

        speeches = text_to_mel(model, list(texts), seed)
        wavs = self.vocode_frames([s.mel for s in speeches], vocoder=loaded)
        rate = loaded.vocoder.sample_rate
        return [SynthResult(w, rate, acoustic=model.name, mel=s.mel, speech=s)
                for w, s in zip(wavs, speeches)]

    def convert(self, source: AudioInput, voice: Voice, *, k: int | None = None,
                sample_rate: int | None = None) -> SynthResult:
        """Voice conversion (kNN-VC): ``source`` speech spoken in ``voice``.

        Args:
            source: any input :func:`synth.audio.load_input_audio` takes.
            voice: reference clip path(s) or waveforms, a folder of clips, a saved matching set
                (``.pt``), or a ``MatchingSet``.
            k: neighbours per frame (default: the config's ``k``).

        Returns audio at the feature vocoder's rate (16 kHz for kNN-VC), loudness-normalised
        to the config's ``loudness``.
        """
        vc = self.knnvc
        matching_set = self.load_voice(voice)
        wav, _ = load_input_audio(source, sample_rate, target_rate=vc.extractor.sample_rate,
                                  what=_label(source, 0), max_seconds=self.config.max_audio_seconds)
        try:
            out = vc.convert(torch.from_numpy(wav), matching_set, k=k or self.config.k)
        except ValueError as exc:
            if isinstance(exc, InputError):
                raise
            raise PipelineError(str(exc)) from None
        return SynthResult(np.asarray(out, dtype=np.float32), vc.sample_rate)

    # ------------------------------------------------------------------ voices

    def make_voice(self, references: Sequence[AudioInput] | AudioInput) -> "MatchingSet":
        """A matching set (the target voice) from reference clips: paths, a folder of clips,
        waveforms at the extractor's rate, or ``(waveform, rate)`` tuples."""
        vc = self.knnvc
        rate = vc.extractor.sample_rate
        prepared = [s if isinstance(s, (str, os.PathLike))
                    else torch.from_numpy(load_input_audio(s, None, target_rate=rate,
                                                           what=f"reference {i}")[0])
                    for i, s in enumerate(reference_list(references))]
        try:
            return vc.build_matching_set(prepared)
        except ValueError as exc:
            if isinstance(exc, (AudioError, InputError)):
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
        (up to ``voices_kept``), keyed by path, size and modification time."""
        from .knnvc import MatchingSet

        vc = self.knnvc
        if isinstance(voice, MatchingSet):
            return voice
        settings = (vc.extractor.name, vc.config.layer)
        if is_saved_voice(voice):
            return self._voices.get(voice, settings, lambda: MatchingSet.load(
                voice, model=vc.extractor.name, layer=vc.config.layer, dim=vc.extractor.dim))
        return self._voices.get(voice, settings, lambda: self.make_voice(voice))


def load_mel_file(path: str | os.PathLike) -> np.ndarray:
    """A ``.npy`` float array, read without unpickling anything."""
    if not Path(path).is_file():
        raise PipelineError(f"{path}: mel file not found")
    try:
        return load_npy(path)
    except ValueError as exc:
        raise PipelineError(str(exc)) from None


def _label(audio: Any, index: int) -> str:
    return os.fspath(audio) if isinstance(audio, (str, os.PathLike)) else f"audio {index}"


__all__ = ["AcousticChoice", "ESPEAK_LABEL", "MAX_TEXT_CHARS", "PipelineError", "SynthConfig",
           "SynthResult", "Synthesizer", "VocoderChoice", "load_mel_file"]
