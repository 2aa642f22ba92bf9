"""The web app's actions, without the web: one method per action, taking the values of the
page's inputs (uploads as file paths) and returning the values of its outputs.

:class:`SynthService` checks the request (:mod:`synth.uploads`, :mod:`synth.catalog`), runs
one :class:`~synth.pipeline.Synthesizer` over one :class:`~synth.hub.ModelHub` (the vocoder
is chosen per request, every model loaded once and shared) and writes the results
(:mod:`synth.outputs`). Errors are library errors (:class:`vocoder.errors.HifisynthError`),
with neutral messages; the app adds its own hints when it shows them.

The service never downloads a model behind a request's back: its cache has
``auto_download=False``, so a missing model is an error naming every model the action lacks,
and :meth:`SynthService.download_model` is the one way in.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from vocoder.atomic import make_dir
from vocoder.audio import resample
from vocoder.config import preset_names
from vocoder.errors import InputError
from vocoder.families.loaded import LoadedVocoder
from vocoder.mel import MEL_PRESETS

from .catalog import ModelCatalog, display_name
from .defaults import AUTO_ACOUSTIC, DEFAULT_ACOUSTIC_MODELS, ESPEAK, GRIFFINLIM
from .hub import ModelHub, ModelSpec
from .melimages import display_mel, mel_image, mel_range, speech_image
from .models import ModelCache, ModelError, format_size
from .outputs import OutputFolder
from .pipeline import PipelineError, SynthConfig, Synthesizer, SynthResult
from .scores import score_pair
from .uploads import (Limits, UploadError, read_clip, read_clips, read_mel_upload,
                      stage_checkpoint, strip_path)

PRESETS = tuple(preset_names("mel"))  # the mel vocoders of vocoder.config.PRESETS
#: What an uploaded checkpoint may name instead of its config files: a HiFi-GAN preset, or
#: the mel of a family whose files do not say which (a SpeechBrain 16 kHz vocoder).
LAB_PRESETS = PRESETS + tuple(MEL_PRESETS)


class RequestError(InputError):
    """A request the app cannot serve as it is (empty text, no clips, a bad setting); the
    message says what to do and is shown as it is."""


@dataclass(frozen=True)
class ServiceConfig:
    """How the app runs (its command-line options).

    Attributes:
        synth: the models and settings (the mel vocoder given here is the default one; the
            loudness of conversions is set per request).
        device, dtype: where and how the models run.
        max_model_bytes: parameters and buffers held at once (``None``: no bound); the
            least recently used models are released beyond it.
        models_dir: extra checkpoints offered as vocoders; the only folder a vocoder name may
            point into.
        voices_dir: where saved voices (``<name>.pt``) are kept.
        temp_dir: uploads and outputs.
        limits: what one request may send.
        concurrency: synthesis requests run at once.
        queue_size: requests that may wait.
    """

    synth: SynthConfig = field(default_factory=SynthConfig)
    device: str = "auto"
    dtype: str = "float32"
    max_model_bytes: int | None = None
    models_dir: Path | None = None
    voices_dir: Path | None = None
    temp_dir: Path = Path("hifisynth-app")
    limits: Limits = field(default_factory=Limits)
    concurrency: int = 1
    queue_size: int = 64


class SynthService:
    """What the web UI and the API call.

    Args:
        config: models, device, folders and limits.
        cache: the model cache (downloads are turned off for requests; see the module
            docstring).
    """

    def __init__(self, config: ServiceConfig, cache: ModelCache) -> None:
        self.config = config
        self.limits = config.limits
        self.cache = replace(cache, auto_download=False, progress=False)
        self.hub = ModelHub(self.cache, device=config.device, dtype=config.dtype,
                            max_bytes=config.max_model_bytes)
        self.synth = Synthesizer(self.hub, replace(config.synth, loudness=None))
        self.catalog = ModelCatalog(self.cache, config.synth.vocoder, config.models_dir,
                                    config.voices_dir or self.cache.home / "voices",
                                    config.synth.acoustic)
        self.temp_dir = Path(config.temp_dir).resolve()
        self.outputs = OutputFolder(self.temp_dir / "outputs")
        self._clock = threading.local()

    # ------------------------------------------------------------------ timing

    @contextmanager
    def timing(self) -> Iterator[None]:
        """Count the time spent inside the block as Synthesizer time of this request (this
        thread); the app logs it beside the request's total."""
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

    # ------------------------------------------------------------------ start-up

    def preload(self) -> list[str]:
        """Load the configured models now; one line per part that could not be loaded (the
        app still starts: that part's requests say how to fix it)."""
        problems = []
        for part in ("vocoder", "acoustic", "espeak", "knnvc"):
            try:
                self.synth.load(part)
            except Exception as exc:  # noqa: BLE001 - reported, the app still starts
                problems.append(f"{part}: {' '.join(str(exc).split())}")
        return problems

    def missing_models(self) -> dict[str, list]:
        """Registry models the app is configured with that are not downloaded:
        ``{"vocoder": [entry], "voice conversion": [entries]}`` (empty lists when present)."""
        config = self.config.synth
        return {"vocoder": self.catalog.missing([config.vocoder]),
                "voice conversion": self.catalog.missing([config.extractor, config.vc_vocoder]),
                "text to speech": self.missing_acoustic()}

    def missing_acoustic(self) -> list:
        """The Tacotron2 the app would use for text to speech, when it is not downloaded:
        the configured registry model, or (``auto``) the first default one when none is."""
        config = self.config.synth
        if config.acoustic.strip().lower() == ESPEAK:
            return []
        if config.acoustic.strip().lower() != AUTO_ACOUSTIC:
            return self.catalog.missing([config.acoustic])
        registry = self.cache.registry
        names = [n for n in DEFAULT_ACOUSTIC_MODELS if n in registry]
        if not names or any(self.catalog.present(n) for n in names):
            return []
        return self.catalog.missing(names[:1])

    def banner(self) -> str:
        """Markdown for the top of the page when configured models are not downloaded: what
        is missing, what works meanwhile, how to get it; empty when nothing is missing."""
        missing = self.missing_models()
        if not any(missing.values()):
            return ""
        lines = []
        if missing["vocoder"]:
            (entry,) = missing["vocoder"]
            chosen = self.catalog.preselected_vocoder()
            meanwhile = ("Griffin-Lim (no download, lower quality) is selected until then"
                         if chosen == GRIFFINLIM else f"**{chosen}** is selected until then")
            lines.append(f"the default vocoder **{entry.name}** ({_about(entry.size_text)}); "
                         f"{meanwhile}")
        if missing["voice conversion"]:
            names = " and ".join(f"**{e.name}** ({_about(e.size_text)})"
                                 for e in missing["voice conversion"])
            lines.append(f"{names}, for voice conversion and voices")
        if missing["text to speech"]:
            (entry,) = missing["text to speech"]
            lines.append(f"**{entry.name}** ({_about(entry.size_text)}), Tacotron2 for text to "
                         "speech; the espeak-ng base voice speaks until then")
        names = " ".join(e.name for group in missing.values() for e in group)
        if self.cache.offline:
            how = ("The app runs offline (HIFISYNTH_OFFLINE=1): place the files by hand at the "
                   "cache paths the **Models** tab shows.")
        else:
            how = (f"Download them in the **Models** tab, or run `synth models download "
                   f"{names}`.")
        return "**Not downloaded yet:** " + "; ".join(lines) + ". " + how

    # ------------------------------------------------------------------ text to speech

    def tts(self, text: str | None, voice: str | None = "base",
            references: Sequence[str] | None = None, saved_voice: str | None = None,
            vocoder: str | None = None, acoustic: str | None = None,
            seed: float | str | None = None) -> tuple[str, str]:
        """Text -> speech: the WAV path and notes (markdown). See :meth:`speak`."""
        return self.speak(text, voice, references, saved_voice, vocoder, acoustic, seed)[:2]

    def speak(self, text: str | None, voice: str | None = "base",
              references: Sequence[str] | None = None, saved_voice: str | None = None,
              vocoder: str | None = None, acoustic: str | None = None,
              seed: float | str | None = None) -> tuple[str, str, str | None]:
        """Text -> speech.

        Args:
            text: English text (normalised: numbers, dates, abbreviations...).
            voice: ``base`` (the acoustic model's own voice: Tacotron2's LJSpeech, or the
                espeak-ng base voice), ``clips`` (converted into the voice of the
                ``references`` clips) or ``saved`` (into the saved voice ``saved_voice``).
            vocoder: the mel vocoder choice (:meth:`ModelCatalog.resolve_vocoder`).
            acoustic: ``default`` (what the app was started with: Tacotron2 when downloaded,
                else the base voice), a registry acoustic model, ``auto`` or ``espeak``.
            seed: Tacotron2's seed (an integer 0 .. 2**31 - 1; empty or -1: a new one).

        Returns:
            The WAV path, notes (markdown), and the path of the acoustic model's mel and
            attention alignments (for :meth:`tts_view`; ``None`` for the base voice).
        """
        text = (text or "").strip()
        if not text:
            raise RequestError("type some text to speak")
        if len(text) > self.limits.max_text_chars:
            raise RequestError(f"the text is {len(text)} characters long; the limit is "
                               f"{self.limits.max_text_chars}")
        voice = (voice or "base").strip().lower()
        if voice not in ("base", "clips", "saved"):
            raise RequestError(f"voice must be 'base', 'clips' or 'saved', got {voice!r}")
        choice = self.catalog.resolve_vocoder(vocoder)
        acoustic_choice = self.catalog.resolve_acoustic(acoustic)
        seed = _seed(seed)
        picked = self.synth.pick_acoustic(acoustic_choice, choice)
        notes: list[str] = []
        target: Any = None
        described = ""
        if voice == "clips":
            clips = read_clips(references, "reference", self.limits)
            if not clips:
                raise RequestError("upload one or more reference clips of the target voice")
            notes += [n for c in clips for n in c.notes]
            with self.timing():
                target = self.synth.make_voice([c.pair() for c in clips])
            described = f"{len(clips)} reference clip(s)"
        elif voice == "saved":
            target = self.catalog.voice_path(saved_voice)
            described = f"saved voice **{saved_voice}**"
        with self.timing():
            result = self.synth.speak(text, voice=target, vocoder=choice, acoustic=picked,
                                      seed=seed)
        if target is not None:
            result = _loudness(result, -16.0)
        label = self._vocoder_label(choice)
        if result.speech is not None:
            notes.append(f"**{result.acoustic}** (seed {result.speech.seed}) through the "
                         f"**{label}** vocoder")
        elif target is None:
            notes.append(f"espeak-ng base voice through the **{label}** vocoder")
        else:
            notes.append("espeak-ng base voice")
        if target is not None:
            notes.append(f"converted into {described} (kNN-VC)"
                         + ("" if result.speech is not None else
                            "; the mel vocoder choice does not apply"))
        if (result.speech is None and self.synth.has_mel_vocoder(choice)
                and (acoustic_choice or self.config.synth.acoustic) == AUTO_ACOUSTIC):
            missing = self.missing_acoustic()
            if missing:
                notes.append(f"for neural text to speech, download **{missing[0].name}** "
                             f"({_about(missing[0].size_text)}, Tacotron2) in the Models tab")
        if result.speech is not None and result.speech.spelled:
            notes.append("spelled out letter by letter (not in the pronouncing dictionary): "
                         + ", ".join(result.speech.spelled))
        notes.append(f"{result.seconds:.2f} s at {result.sample_rate} Hz")
        view = None
        if result.speech is not None:
            speech = result.speech
            arrays = {"mel": speech.mel.numpy(), "starts": np.asarray(speech.starts)}
            for i, sentence in enumerate(speech.sentences):
                arrays[f"alignment_{i}"] = sentence.alignment.numpy()
            view = self.outputs.write_arrays(arrays, "speech")
        return self.write(result, "speech"), _markdown(notes), view

    def tts_view(self, audio: str | None, speech: str | None = None) -> str:
        """The picture of a text-to-speech result as a PNG: the acoustic model's mel with its
        attention alignment below (``speech``: the file :meth:`speak` wrote), or the mel of
        the audio (the base voice); returns its path."""
        if speech and self.outputs.owns(speech):
            with np.load(speech, allow_pickle=False) as data:
                count = sum(1 for k in data.files if k.startswith("alignment_"))
                image = speech_image(data["mel"], [data[f"alignment_{i}"] for i in range(count)],
                                     [int(s) for s in data["starts"]])
            return self.outputs.write_png(image, "speech")
        return self.mel(audio)

    def mel(self, audio: str | None) -> str:
        """The mel spectrogram of an audio file as a PNG image (80 bands up to 8 kHz, low
        frequencies at the bottom); returns its path."""
        if not audio:
            raise RequestError("no audio to show")
        clip = read_clip(audio, "audio", self.limits)
        return self.outputs.write_png(mel_image(display_mel(clip.wav, clip.sample_rate)), "mel")

    # ------------------------------------------------------------------ voice conversion

    def convert(self, source: str | None, references: Sequence[str] | None, k: float = 4,
                normalize: bool = True, loudness: float = -16.0) -> tuple[str, str]:
        """Voice conversion: ``source`` speech in the voice of the ``references`` clips, with
        ``k`` neighbours; loudness normalised to ``loudness`` LUFS when ``normalize``.
        Returns the WAV path and notes."""
        if not source:
            raise RequestError("upload or record the source speech")
        k = int(k)
        if not 1 <= k <= 64:
            raise RequestError(f"k must be 1..64, got {k}")
        if normalize and not -70 <= float(loudness) <= 0:
            raise RequestError(f"loudness must be -70..0 LUFS, got {loudness}")
        vc_rate = self.synth.knnvc.extractor.sample_rate
        src = read_clip(source, "source", self.limits, vc_rate)
        clips = read_clips(references, "reference", self.limits)
        if not clips:
            raise RequestError("upload one or more reference clips of the target voice")
        notes = src.notes + [n for c in clips for n in c.notes]
        with self.timing():
            voice = self.synth.make_voice([c.pair() for c in clips])
            result = self.synth.convert(src.pair(), voice, k=k)
            result = _loudness(result, float(loudness) if normalize else None)
        notes.append(f"{src.seconds:.2f} s of source speech in the voice of {len(clips)} "
                     f"reference clip(s) ({voice.seconds:.1f} s of matched speech), k = {k}; "
                     f"{result.sample_rate} Hz")
        return self.write(result, "converted"), _markdown(notes)

    def save_voice(self, references: Sequence[str] | None, name: str | None) -> tuple[str, str]:
        """Save the reference clips as the voice ``name`` for text to speech. Returns notes
        and the saved name."""
        path = self.catalog.new_voice_path(name)
        clips = read_clips(references, "reference", self.limits)
        if not clips:
            raise RequestError("upload one or more reference clips of the voice to save")
        make_dir(path.parent)
        replaced = path.exists()
        with self.timing():
            voice = self.synth.save_voice([c.pair() for c in clips], path)
        notes = [n for c in clips for n in c.notes]
        notes.append(f"{'replaced' if replaced else 'saved'} voice **{path.stem}**: "
                     f"{len(clips)} clip(s), {voice.seconds:.1f} s of speech; choose it under "
                     "Text to speech > Saved voice")
        return _markdown(notes), path.stem

    # ------------------------------------------------------------------ vocoder lab

    def vocoder(self, audio: str | None, mel: str | None = None, vocoder: str | None = None,
                checkpoint: str | None = None, config: str | Sequence[str] | None = None,
                preset: str | None = None) -> tuple[str, str]:
        """Resynthesise ``audio`` (or vocode the ``.npy`` ``mel``) with a vocoder: the choice
        ``vocoder``, or an uploaded ``checkpoint`` of any family with its ``config`` files
        (``config.json``; SpeechBrain's ``hyperparams.yaml``; ESPnet's ``config.yml`` and
        ``stats.h5``...) or a ``preset`` (v1, v2, v3, or a family's mel preset). Audio goes
        through the mel that vocoder expects; a ``.npy`` mel is taken as that mel. Returns the
        result (a WAV at the vocoder's rate) and notes."""
        if bool(audio) == bool(mel):
            raise RequestError("give either an audio clip to resynthesise or a .npy mel to "
                               "vocode, not both" if audio else
                               "upload an audio clip to resynthesise or a .npy mel to vocode")
        choice, label = self._lab_vocoder(vocoder, checkpoint, config, preset)
        loaded = self._load_lab_vocoder(choice, checkpoint)
        voc = loaded.vocoder
        rate = voc.sample_rate
        if audio:
            clip = read_clip(audio, "audio", self.limits, rate)
            with self.timing():
                result = self.synth.resynthesize(clip.pair(), vocoder=loaded)
            notes = clip.notes + [f"{clip.name}: {result.seconds:.2f} s resynthesised by "
                                  f"{label} at {rate} Hz through its {loaded.family} mel"]
            return self.write(result, "resynthesized"), _markdown(notes)
        path, array = read_mel_upload(mel, self.limits)
        frames = array.shape[-1]
        seconds = frames * voc.upsample_factor / rate
        if seconds > self.limits.max_seconds:
            raise UploadError(f"mel ({path.name}): {frames} frames make {seconds:.1f} s of "
                              f"audio; the limit is {self.limits.max_seconds:g} s")
        try:
            with self.timing():
                result = self.synth.vocode(array, vocoder=loaded)
        except PipelineError as exc:
            raise UploadError(f"mel ({path.name}): {strip_path(str(exc), path)}") from None
        notes = [f"{path.name}: {frames} frames vocoded by {label}: {result.seconds:.2f} s at "
                 f"{rate} Hz"]
        return self.write(result, "vocoded"), _markdown(notes)

    def vocoder_compare(self, original: str | None, resynthesized: str | None,
                        mel: str | None = None) -> tuple[str | None, str, list[list[Any]]]:
        """Compare a resynthesis with its original: their mel images (80 bands up to 8 kHz,
        one colour range) and the scores of ``vocoder eval``. The original is resampled to the
        resynthesis's rate and cut to its length. Without an original, the left image shows
        the ``.npy`` ``mel`` given to the vocoder (its own bands) and there are no scores."""
        if not resynthesized:
            raise RequestError("nothing to compare: resynthesise something first")
        deg = read_clip(resynthesized, "resynthesis", self.limits)
        deg_mel = display_mel(deg.wav, deg.sample_rate)
        if not original:
            if not mel:
                raise RequestError("give the original audio (or the .npy mel) to compare with")
            _, array = read_mel_upload(mel, self.limits)
            given = np.asarray(array, np.float32).reshape(array.shape[-2], array.shape[-1])
            return (self.outputs.write_png(mel_image(given), "mel-given"),
                    self.outputs.write_png(mel_image(deg_mel), "mel-vocoded"), [])
        ref = read_clip(original, "original", self.limits)
        ref_wav = resample(ref.wav, ref.sample_rate, deg.sample_rate)[: len(deg.wav)]
        ref_mel = display_mel(ref_wav, deg.sample_rate)
        lo_hi = mel_range(ref_mel, deg_mel)
        rows, _ = score_pair(ref_wav, deg.wav, deg.sample_rate)
        return (self.outputs.write_png(mel_image(ref_mel, lo_hi), "mel-original"),
                self.outputs.write_png(mel_image(deg_mel, lo_hi), "mel-resynthesized"), rows)

    def _lab_vocoder(self, vocoder: str | None, checkpoint: str | None,
                     config: str | Sequence[str] | None, preset: str | None
                     ) -> tuple[str | ModelSpec | None, str]:
        """The vocoder choice of the lab and how notes name it."""
        if not checkpoint:
            choice = self.catalog.resolve_vocoder(vocoder, allow_none=False)
            return choice, self._vocoder_label(choice)
        ckpt = Path(checkpoint)
        preset = (preset or "").strip().lower()
        if preset and preset not in LAB_PRESETS:
            raise RequestError(f"preset must be one of {', '.join(LAB_PRESETS)}, got {preset!r}")
        if not config and not preset:
            raise RequestError(f"checkpoint ({ckpt.name}): upload its config.json too (or its "
                               "family's files: hyperparams.yaml; config.yml and stats.h5), or "
                               f"pick a preset ({', '.join(PRESETS)})")
        staged = stage_checkpoint(ckpt, config, self.temp_dir / "checkpoints", self.limits)
        return (ModelSpec.make("mel_vocoder", staged, preset or None),
                f"the uploaded checkpoint {ckpt.name}")

    def _load_lab_vocoder(self, choice: str | ModelSpec | None,
                          checkpoint: str | None) -> LoadedVocoder:
        try:
            return self.synth.loaded_vocoder(choice)
        except (ValueError, ModelError) as exc:
            if not checkpoint or not isinstance(choice, ModelSpec):
                raise
            ckpt = Path(checkpoint)
            staged = Path(choice.source)
            message = strip_path(str(exc), staged).replace(f"{staged.parent}/", "")
            raise UploadError(f"checkpoint ({ckpt.name}): {message}") from None

    def _vocoder_label(self, choice: str | None) -> str:
        return display_name(self.config.synth.vocoder if choice is None else choice)

    # ------------------------------------------------------------------ models

    def uses(self) -> dict[str, str]:
        config = self.config.synth
        uses = {config.vocoder: "default mel vocoder",
                config.vc_vocoder: "voice conversion vocoder",
                config.extractor: "voice conversion features"}
        if config.acoustic.strip().lower() == AUTO_ACOUSTIC:
            for name in DEFAULT_ACOUSTIC_MODELS:
                uses.setdefault(name, "text to speech (when downloaded)")
        elif config.acoustic.strip().lower() != ESPEAK:
            uses.setdefault(config.acoustic, "text to speech")
        return uses

    def download_choices(self) -> tuple[list[tuple[str, str]], str | None]:
        """Models to offer for download, ``(label, name)`` with kind and size, and the one to
        preselect: the first model this app uses that is missing."""
        choices = [(entry.describe(), entry.name) for entry in self.cache.registry]
        missing = [e.name for group in self.missing_models().values() for e in group]
        return choices, (missing[0] if missing else None)

    def models(self) -> list[list[str]]:
        """The registry's models and their cache state (rows under
        :data:`synth.catalog.MODEL_HEADERS`)."""
        return self.catalog.models_table(self.uses())

    def download_model(self, name: str | None,
                       progress: Callable[..., Any] | None = None) -> tuple[str, list[list[str]]]:
        """Download a registry model into the cache, reporting ``progress((done, total),
        desc=..., unit="bytes")``. Returns notes and the updated model table."""
        entry = self.catalog.entry(name)
        last = [0.0]

        def report(done: int, total: int | None) -> None:
            now = time.monotonic()
            if progress is not None and (now - last[0] > 0.1 or (total and done >= total)):
                last[0] = now
                progress((done, total), desc=f"downloading {entry.name}", unit="bytes")

        before = self.cache.status(entry.name)
        path = self.cache.with_progress(report).download(entry.name)
        size = format_size(self.cache.status(entry.name).bytes)  # every file of the model
        if before.present:
            note = f"**{entry.name}** was already in the cache ({size}), checked: {path}"
        else:
            note = f"downloaded **{entry.name}** ({size}), checksum checked: {path}"
        return note, self.models()

    def status(self) -> dict[str, Any]:
        """Device, models, memory, limits and choices, as JSON."""
        info = self.synth.describe()
        cuda = None
        if self.hub.device.type == "cuda":
            index = self.hub.device.index or 0
            props = torch.cuda.get_device_properties(index)
            cuda = {"name": props.name, "memory_gb": round(props.total_memory / 1e9, 1),
                    "allocated_gb": round(torch.cuda.memory_allocated(index) / 1e9, 2)}
        config = self.config.synth
        return {
            "device": info["device"], "dtype": info["dtype"], "cuda": cuda,
            "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
            "concurrency": self.config.concurrency, "queue_size": self.config.queue_size,
            "models": {"vocoder": display_name(config.vocoder),
                       "acoustic": display_name(config.acoustic),
                       "vc_vocoder": display_name(config.vc_vocoder),
                       "extractor": display_name(config.extractor),
                       "loaded": info["loaded"],
                       "held": [{"name": h.spec.label, "kind": h.spec.kind,
                                 "mb": round(h.nbytes / 1e6, 1)} for h in self.hub.held()],
                       "missing": [e.name for group in self.missing_models().values()
                                   for e in group]},
            "model_memory_mb": round(self.hub.nbytes / 1e6, 1),
            "max_model_memory_mb": (None if self.config.max_model_bytes is None
                                    else round(self.config.max_model_bytes / 1e6, 1)),
            "offline": self.cache.offline,
            "limits": asdict(self.limits),
            "vocoders": [value for _, value in self.catalog.vocoder_choices()],
            "preselected_vocoder": self.catalog.preselected_vocoder(),
            "acoustic_models": [value for _, value in self.catalog.acoustic_choices()],
            "preselected_acoustic": self.catalog.preselected_acoustic(),
            "voices": self.catalog.voice_names(),
        }

    def status_markdown(self) -> str:
        """One line: device, dtype, concurrency, what is loaded and its memory."""
        s = self.status()
        device = s["device"]
        if s["cuda"]:
            device += f" ({s['cuda']['name']}, {s['cuda']['memory_gb']} GB)"
        else:
            device += f" ({s['cpu_threads']} threads)"
        loaded = ", ".join(s["models"]["loaded"]) or "nothing yet"
        return (f"**Device:** {device}, {s['dtype']} · **requests at once:** {s['concurrency']} "
                f"(queue {s['queue_size']}) · **loaded:** {loaded} "
                f"({s['model_memory_mb']:g} MB) · torch {s['torch']}"
                + (" · **offline**" if s["offline"] else ""))

    # ------------------------------------------------------------------ outputs

    def write(self, result: SynthResult, stem: str) -> str:
        """A result as a 16-bit WAV in the outputs folder; returns its path."""
        return self.outputs.write_wav(result.audio, result.sample_rate, stem)


def _about(size_text: str) -> str:
    """``"~5.6 MiB"`` -> ``"about 5.6 MiB"`` (in markdown, ``~`` pairs strike text through)."""
    return size_text.replace("~", "about ")


def _loudness(result: SynthResult, lufs: float | None) -> SynthResult:
    if lufs is None:
        return result
    from .audio import normalize_loudness

    return replace(result, audio=normalize_loudness(result.audio, result.sample_rate, lufs))


def _seed(value: float | str | None) -> int | None:
    """A seed from the page: empty or -1 -> ``None`` (a new one); else an integer
    0 .. 2**31 - 1."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RequestError(f"seed must be a whole number, got {value!r}") from None
    if number == -1:
        return None
    if not number.is_integer() or not 0 <= number < 2**31:
        raise RequestError(f"seed must be a whole number from 0 to {2**31 - 1} (or -1 for a "
                           f"new one), got {value!r}")
    return int(number)


def _markdown(notes: Sequence[str]) -> str:
    return "\n".join(f"- {n}" for n in notes)


__all__ = ["LAB_PRESETS", "PRESETS", "RequestError", "ServiceConfig", "SynthService"]
