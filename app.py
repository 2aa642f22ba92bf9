"""hifisynth's web app: text to speech, voice conversion, a vocoder lab and the model cache.

Gradio wiring over :class:`synth.service.SynthService`, which does the work (request checks,
one :class:`~synth.pipeline.Synthesizer` over one :class:`~synth.hub.ModelHub`, results)::

    python app.py                                  # http://127.0.0.1:7860, device auto
    python app.py --device cpu --port 8000 --vocoder griffinlim
    python app.py --help

Four tabs, one builder each, every action also a named API endpoint for ``gradio_client``
(see ``docs/app.md``): ``/tts`` and ``/mel``, ``/convert``, ``/save_voice``, ``/vocoder`` and
``/vocoder_compare``, ``/models``, ``/download_model``, ``/status``. Audio comes first; mel
images and scores follow in a second, chained event, so they never delay the audio. Errors
are mapped to messages here, once, with the app's own hints (the Models tab, Griffin-Lim).
"""

from __future__ import annotations

import argparse
import functools
import inspect
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from synth.acoustic.interface import MelMismatchError
from synth.catalog import MODEL_HEADERS
from synth.cli import quiet_transformers
from synth.commands.common import ARCH_WITH_DIRECTORY
from synth.defaults import (AUTO_ACOUSTIC, DEFAULT_EXTRACTOR, DEFAULT_EXTRACTOR_ARCH,
                            DEFAULT_MEL_VOCODER, DEFAULT_VC_VOCODER)
from synth.loaders import is_model_directory
from synth.models import ModelCache, ModelKindError, ModelUnavailableError, kind_label
from synth.pipeline import SynthConfig
from synth.scores import SCORE_HEADERS
from synth.service import LAB_PRESETS, ServiceConfig, SynthService
from synth.uploads import Limits
from vocoder.errors import HifisynthError, one_line

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "assets" / "examples"
LOG = logging.getLogger("hifisynth.app")

CSS = """
.hs-notes ul { margin: 0; }
.hs-mel img { image-rendering: pixelated; }
#hs-banner { border-left: 4px solid #f59e0b; padding-left: 0.75em; }
footer { display: none !important; }
"""


# =========================================================================== errors

def user_message(exc: BaseException) -> str | None:
    """The message for an error the user can act on, with the app's hints, or ``None`` for a
    bug. Imports nothing: building the message must not fail the way the request did."""
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        torch.cuda.empty_cache()
        return ("the GPU ran out of memory for this request; try shorter audio, or ask the "
                "operator to lower --concurrency")
    if not isinstance(exc, HifisynthError):
        return None
    message = one_line(exc)
    if isinstance(exc, ModelUnavailableError) and exc.models:
        names = " ".join(exc.models)
        if len(exc.models) > 1:  # each file's URL and cache path are in the Models tab
            message = one_line(exc.summary) + " (the Models tab shows where each file goes)"
        if exc.offline:
            message += (". The app runs offline (HIFISYNTH_OFFLINE=1): it cannot download "
                        f"{'it' if len(exc.models) == 1 else 'them'}")
        elif exc.reason == "missing":
            message += (f". Download {'it' if len(exc.models) == 1 else 'them'} in the Models "
                        f"tab, or run `synth models download {names}`")
        if "mel_vocoder" in exc.kinds and exc.reason == "missing":
            message += "; or choose 'griffinlim' as the vocoder (no download, lower quality)"
        if "acoustic_model" in exc.kinds and exc.reason == "missing":
            message += "; or choose the espeak-ng base voice as the acoustic model (no download)"
    elif isinstance(exc, ModelKindError):
        message += f"; choose {kind_label(exc.expected, True)}"
    elif isinstance(exc, MelMismatchError):
        message += "; pick another vocoder, or the espeak-ng base voice as the acoustic model"
    return message


def handler(service: SynthService, method: Callable[..., Any], name: str) -> Callable[..., Any]:
    """Wrap a service method for Gradio: user errors become a ``gr.Error`` with the message,
    anything else is logged with its traceback and shown as one line (the worker goes on);
    each request's time is logged with the Synthesizer time inside it."""
    import gradio as gr

    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        service.synth_seconds(reset=True)
        try:
            out = method(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            try:
                message = user_message(exc)
            except Exception:  # noqa: BLE001 - never let the message fail the request again
                message = None
            if message is None:
                LOG.exception("%s failed", name)
                message = (f"something went wrong in the app ({type(exc).__name__}); the "
                           "details are in the server log")
            else:
                LOG.info("%s: %s", name, message)
            message = public(service, message)
            # duration=None: the message stays until closed (the output only says "Error")
            raise gr.Error(message[:1].upper() + message[1:], duration=None,
                           print_exception=False) from None
        LOG.info("%s done in %.3f s (%.3f s in the Synthesizer)", name,
                 time.perf_counter() - started, service.synth_seconds())
        return out

    run.__signature__ = inspect.signature(method)  # type: ignore[attr-defined]
    return run


def public(service: SynthService, message: str) -> str:
    """Remove the app's temp folder (uploads live there) from a message."""
    temp = str(service.temp_dir)
    message = re.sub(re.escape(temp) + r"[^\s:]*/", "", message)
    return message.replace(temp, "<temp>")


# =========================================================================== UI

@dataclass
class Shared:
    """Components that more than one tab's events touch."""

    status: Any
    banner: Any
    tts_vocoder: Any = None
    tts_acoustic: Any = None
    saved_voice: Any = None
    lab_vocoder: Any = None
    models_table: Any = None


def build_ui(service: SynthService):
    """The Gradio Blocks: a header, four tabs, every action a named API endpoint."""
    import gradio as gr

    def wrap(method: Callable[..., Any], name: str) -> Callable[..., Any]:
        return handler(service, method, name)

    with gr.Blocks(title="hifisynth", analytics_enabled=False,
                   delete_cache=(1800, 3600)) as demo:
        gr.Markdown("# hifisynth\nSpeech synthesis with HiFi-GAN vocoders: text to speech, "
                    "voice conversion (kNN-VC), and a vocoder lab.")
        banner = service.banner()
        shared = Shared(status=gr.Markdown(service.status_markdown(), elem_id="hs-status"),
                        banner=gr.Markdown(banner, visible=bool(banner), elem_id="hs-banner"))
        with gr.Tabs():
            tts_tab(service, wrap, shared)
            vc_tab(service, wrap, shared)
            vocoder_tab(service, wrap, shared)
            models_tab(service, wrap, shared)
        gr.api(wrap(service.status, "status"), api_name="status", concurrency_limit=None)

        def download_model(name: str) -> tuple[str, dict]:
            """For the API: the notes and the model table (the page refreshes its own)."""
            notes, rows = service.download_model(name)
            return notes, {"headers": MODEL_HEADERS, "data": rows}

        gr.api(wrap(download_model, "download_model"), api_name="download_model",
               concurrency_id="download", concurrency_limit=1)

        def on_load():
            banner = service.banner()
            return (service.status_markdown(), gr.update(value=banner, visible=bool(banner)),
                    service.models(), gr.update(choices=service.catalog.voice_names()),
                    *vocoder_updates(service), acoustic_update(service))

        demo.load(on_load, None, [shared.status, shared.banner, shared.models_table,
                                  shared.saved_voice, shared.tts_vocoder, shared.lab_vocoder,
                                  shared.tts_acoustic],
                  api_visibility="private", concurrency_limit=None, show_progress="hidden")
    demo.queue(default_concurrency_limit=service.config.concurrency,
               max_size=service.config.queue_size)
    return demo


def vocoder_updates(service: SynthService) -> tuple[Any, Any]:
    """New choices for both vocoder menus, each preselecting a vocoder that is present."""
    import gradio as gr

    choices, value = service.catalog.vocoder_choices(), service.catalog.preselected_vocoder()
    return gr.update(choices=choices, value=value), gr.update(choices=choices, value=value)


def acoustic_update(service: SynthService) -> Any:
    """New choices for the acoustic-model menu, preselecting a Tacotron2 that is present."""
    import gradio as gr

    return gr.update(choices=service.catalog.acoustic_choices(),
                     value=service.catalog.preselected_acoustic())


def synthesis_events(service: SynthService) -> dict[str, Any]:
    """Synthesis requests share one pool of ``--concurrency`` slots."""
    return dict(concurrency_id="synthesis", concurrency_limit=service.config.concurrency)


VIEW_EVENTS = dict(concurrency_id="views", concurrency_limit=2)  # mel images and scores

# No gr.Audio sets ``format``: Gradio converts audio of another format through pydub, which
# needs a system ffprobe. The app writes WAV files and reads uploads with libsndfile (MP3,
# FLAC, Ogg...), so every file passes through Gradio as it is.


def tts_tab(service: SynthService, wrap: Callable, shared: Shared) -> None:
    import gradio as gr

    catalog = service.catalog
    with gr.Tab("Text to speech", id="tts"):
        with gr.Row():
            with gr.Column(scale=3):
                text = gr.Textbox(label="Text", lines=5, max_lines=20,
                                  max_length=service.limits.max_text_chars,
                                  placeholder="Type English text to speak.", elem_id="tts-text")
                with gr.Row():
                    acoustic = gr.Dropdown(catalog.acoustic_choices(),
                                           value=catalog.preselected_acoustic(),
                                           label="Acoustic model (text to mel)",
                                           elem_id="tts-acoustic")
                    vocoder = gr.Dropdown(catalog.vocoder_choices(),
                                          value=catalog.preselected_vocoder(),
                                          label="Vocoder", allow_custom_value=True,
                                          elem_id="tts-vocoder")
                with gr.Row():
                    voice = gr.Radio([("The model's own voice", "base"),
                                      ("Reference clips", "clips"), ("Saved voice", "saved")],
                                     value="base", label="Voice", elem_id="tts-voice")
                    seed = gr.Number(value=-1, precision=0, minimum=-1, maximum=2**31 - 1,
                                     label="Seed (Tacotron2; -1: a new one)", elem_id="tts-seed")
                refs = gr.File(label="Reference clips (target voice)", file_count="multiple",
                               file_types=["audio"], visible=False, elem_id="tts-refs")
                with gr.Row(visible=False) as saved_row:
                    saved = gr.Dropdown(catalog.voice_names(), label="Saved voice",
                                        allow_custom_value=True, elem_id="tts-saved")
                    refresh = gr.Button("Refresh", size="sm")
                button = gr.Button("Synthesise", variant="primary", elem_id="tts-run")
                example = EXAMPLES / "LJ011-0202.txt"
                if example.is_file():
                    gr.Examples([[example.read_text(encoding="utf-8").strip()]], inputs=[text],
                                label="Example")
            with gr.Column(scale=2):
                audio = gr.Audio(label="Speech", type="filepath",
                                 interactive=False, buttons=["download"], elem_id="tts-audio")
                mel = gr.Image(label="Mel spectrogram and Tacotron2's attention",
                               format="png", height=240,
                               interactive=False, elem_classes="hs-mel", elem_id="tts-mel")
                notes = gr.Markdown(elem_classes="hs-notes", elem_id="tts-notes")
        speech = gr.State(None)  # the acoustic model's mel and alignments, for the picture
    shared.tts_vocoder, shared.tts_acoustic, shared.saved_voice = vocoder, acoustic, saved
    button.click(wrap(service.speak, "tts"),
                 [text, voice, refs, saved, vocoder, acoustic, seed], [audio, notes, speech],
                 api_name="tts", **synthesis_events(service)
                 ).success(wrap(service.tts_view, "mel"), [audio, speech], [mel],
                           api_name="mel", **VIEW_EVENTS)
    voice.change(lambda v: (gr.update(visible=v == "clips"), gr.update(visible=v == "saved")),
                 [voice], [refs, saved_row], queue=False, api_visibility="private")
    refresh.click(lambda: gr.update(choices=catalog.voice_names()), None, [saved],
                  queue=False, api_visibility="private")


def vc_tab(service: SynthService, wrap: Callable, shared: Shared) -> None:
    import gradio as gr

    with gr.Tab("Voice conversion", id="vc"):
        with gr.Row():
            with gr.Column():
                source = gr.Audio(label="Source speech", sources=["upload", "microphone"],
                                  type="filepath", elem_id="vc-source")
                refs = gr.File(label="Reference clips (target voice), one or more",
                               file_count="multiple", file_types=["audio"], elem_id="vc-refs")
                with gr.Row():
                    k = gr.Slider(1, 32, value=4, step=1, label="k (neighbours per frame)",
                                  elem_id="vc-k")
                    lufs = gr.Slider(-40, -6, value=-16, step=1, label="Loudness (LUFS)",
                                     elem_id="vc-loudness")
                normalize = gr.Checkbox(value=True, label="Normalise loudness",
                                        elem_id="vc-normalize")
                button = gr.Button("Convert", variant="primary", elem_id="vc-run")
            with gr.Column():
                out = gr.Audio(label="Converted", type="filepath",
                               interactive=False, buttons=["download"], elem_id="vc-output")
                notes = gr.Markdown(elem_classes="hs-notes", elem_id="vc-notes")
                example = EXAMPLES / "LJ011-0202.wav"
                if example.is_file():
                    gr.Examples([[str(example)]], inputs=[source], label="Example source")
                with gr.Accordion("Save the reference clips as a voice", open=False):
                    with gr.Row():
                        name = gr.Textbox(label="Voice name", placeholder="e.g. alice",
                                          max_length=64, elem_id="vc-voice-name")
                        save = gr.Button("Save voice", elem_id="vc-save")
                    save_notes = gr.Markdown(elem_classes="hs-notes", elem_id="vc-save-notes")
    button.click(wrap(service.convert, "convert"), [source, refs, k, normalize, lufs],
                 [out, notes], api_name="convert", **synthesis_events(service))
    save.click(wrap(service.save_voice, "save_voice"), [refs, name],
               [save_notes, shared.saved_voice], api_name="save_voice", **synthesis_events(service)
               ).then(lambda: gr.update(choices=service.catalog.voice_names()), None,
                      [shared.saved_voice], api_visibility="private", queue=False)


def vocoder_tab(service: SynthService, wrap: Callable, shared: Shared) -> None:
    import gradio as gr

    catalog = service.catalog
    with gr.Tab("Vocoder", id="vocoder"):
        with gr.Row(equal_height=True):
            vocoder = gr.Dropdown(catalog.vocoder_choices(), value=catalog.preselected_vocoder(),
                                  label="Vocoder", allow_custom_value=True, scale=3,
                                  elem_id="lab-vocoder")
            button = gr.Button("Resynthesise", variant="primary", scale=1, elem_id="lab-run")
        with gr.Accordion("…or your own checkpoint", open=False):
            with gr.Row():
                ckpt = gr.File(label="Generator checkpoint (g_XXXXXXXX, .pt, .pth; SpeechBrain "
                                     "generator.ckpt, ESPnet checkpoint-*.pkl, Coqui "
                                     "model_file.pth, BigVGAN, TorchScript)", elem_id="lab-ckpt")
                config = gr.File(label="Its config files (config.json; or hyperparams.yaml; or "
                                       "config.yml and stats.h5)", file_count="multiple",
                                 file_types=[".json", ".yaml", ".yml", ".h5", ".npy"],
                                 elem_id="lab-config")
                preset = gr.Dropdown(["", *LAB_PRESETS], value="",
                                     label="…or a preset config (or a family's mel)",
                                     elem_id="lab-preset")
        # Audio side by side in one row, their mels in the next: the pictures line up.
        with gr.Row(equal_height=True):
            audio = gr.Audio(label="Original (audio to resynthesise)", type="filepath",
                             sources=["upload", "microphone"], elem_id="lab-audio")
            out = gr.Audio(label="Resynthesised", type="filepath",
                           interactive=False, buttons=["download"], elem_id="lab-output")
        with gr.Row(equal_height=True):
            orig_mel = gr.Image(label="Original mel", format="png", height=180,
                                interactive=False, elem_classes="hs-mel", elem_id="lab-orig-mel")
            out_mel = gr.Image(label="Resynthesised mel", format="png", height=180,
                               interactive=False, elem_classes="hs-mel", elem_id="lab-out-mel")
        with gr.Accordion("…or vocode a mel from another TTS system", open=False):
            mel = gr.File(label="Mel (.npy of shape (num_mels, frames) in the mel the vocoder "
                                "takes: HiFi-GAN's natural log, or its family's)",
                          file_types=[".npy"], elem_id="lab-mel")
        scores = gr.Dataframe(headers=SCORE_HEADERS, label="Objective scores (as `vocoder eval`)",
                              interactive=False, elem_id="lab-scores")
        notes = gr.Markdown(elem_classes="hs-notes", elem_id="lab-notes")
    shared.lab_vocoder = vocoder
    button.click(wrap(service.vocoder, "vocoder"), [audio, mel, vocoder, ckpt, config, preset],
                 [out, notes], api_name="vocoder", **synthesis_events(service)
                 ).success(wrap(service.vocoder_compare, "vocoder_compare"), [audio, out, mel],
                           [orig_mel, out_mel, scores], api_name="vocoder_compare", **VIEW_EVENTS)


def models_tab(service: SynthService, wrap: Callable, shared: Shared) -> None:
    import gradio as gr

    with gr.Tab("Models", id="models"):
        table = gr.Dataframe(headers=MODEL_HEADERS, value=service.models(), label="Model cache",
                             interactive=False, wrap=True, elem_id="models-table")
        choices, first_missing = service.download_choices()
        with gr.Row():
            name = gr.Dropdown(choices, value=first_missing, label="Model to download",
                               elem_id="models-name")
            download = gr.Button("Download", variant="primary", elem_id="models-download")
            refresh = gr.Button("Refresh", elem_id="models-refresh")
        notes = gr.Markdown(elem_classes="hs-notes", elem_id="models-notes")
        gr.Markdown(f"Cache: `{service.cache.home / 'models'}`"
                    + (" (offline: downloads are off)" if service.cache.offline else ""))
    shared.models_table = table

    def download_with_progress(name: str | None, progress=gr.Progress()) -> str:
        return service.download_model(name, progress)[0]

    def after_download():
        banner = service.banner()
        return (service.models(), gr.update(value=banner, visible=bool(banner)),
                *vocoder_updates(service), acoustic_update(service))

    # The table is not an output of the download (a failed download would hide it behind
    # the error); it is refreshed afterwards, whatever happened.
    download.click(wrap(download_with_progress, "download_model"), [name], [notes],
                   api_visibility="private", concurrency_id="download", concurrency_limit=1
                   ).then(after_download, None, [table, shared.banner, shared.tts_vocoder,
                                                 shared.lab_vocoder, shared.tts_acoustic],
                          api_visibility="private", show_progress="hidden")
    refresh.click(wrap(service.models, "models"), None, [table], api_name="models",
                  concurrency_limit=None)


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
                        help="config.json or preset (or the family's config file or mel "
                             "preset) for a --vocoder path")
    models.add_argument("--acoustic", default=AUTO_ACOUSTIC, metavar="NAME|PATH|espeak",
                        help="default acoustic model for text to speech: 'auto' (default: "
                             "Tacotron2 when its weights are in the model cache, else the "
                             "espeak-ng base voice), 'espeak', a registry name or a torchaudio "
                             "Tacotron2 .pth file")
    models.add_argument("--vc-vocoder", default=DEFAULT_VC_VOCODER, metavar="NAME|PATH",
                        help="voice conversion (kNN-VC) vocoder (default %(default)s)")
    models.add_argument("--vc-vocoder-config", metavar="CONFIG",
                        help="config.json for a --vc-vocoder path")
    models.add_argument("--extractor", default=DEFAULT_EXTRACTOR, metavar="NAME|PATH|DIR",
                        help="feature extractor for voice conversion (default %(default)s): a "
                             "registry name, a torchaudio weights file (--extractor-arch) or a "
                             "Hugging Face model directory (Wav2Vec2, HuBERT, WavLM, "
                             "Wav2Vec2-Conformer, data2vec-audio)")
    models.add_argument("--extractor-arch", metavar="ARCH",
                        help="torchaudio architecture of an --extractor file "
                             f"(default {DEFAULT_EXTRACTOR_ARCH})")
    models.add_argument("--layer", type=int, metavar="N",
                        help="feature layer for kNN-VC (default: the extractor's)")
    models.add_argument("--models-dir", type=Path, metavar="DIR",
                        help="folder of extra vocoder checkpoints of any family (each with "
                             "its config file beside it: config.json, hyperparams.yaml or "
                             "config.yml) offered in the UI; the only folder a vocoder name "
                             "may point into")
    models.add_argument("--voices-dir", type=Path, metavar="DIR",
                        help="where saved voices are kept (default $HIFISYNTH_HOME/voices)")
    models.add_argument("--device", default="auto",
                        help="auto (CUDA when present), cpu, cuda, cuda:N (default %(default)s)")
    models.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                        help="vocoder dtype (default %(default)s; float16 needs a GPU)")
    models.add_argument("--max-model-gb", type=float, default=8.0, metavar="GB",
                        help="models held in memory at once, in GB of parameters (default "
                             "%(default)g); the least recently used are released beyond it")
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
    limits.add_argument("--concurrency", type=int, default=1, metavar="N",
                        help="synthesis requests run at once (default %(default)s; each holds "
                             "its activations in GPU memory)")
    limits.add_argument("--queue-size", type=int, default=64, metavar="N",
                        help="requests that may wait (default %(default)s)")
    limits.add_argument("--temp-dir", type=Path, metavar="DIR",
                        help="uploads and outputs (default: a new folder in the system temp "
                             "folder, removed at exit)")
    return p


def config_from_args(args: argparse.Namespace, temp_dir: Path) -> ServiceConfig:
    """A :class:`ServiceConfig` from parsed options (raises ``ValueError`` for bad values)."""
    for name in ("max_upload_mb", "max_seconds", "max_text_chars", "max_references",
                 "queue_size", "max_model_gb"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive")
    if args.concurrency < 1:
        raise ValueError("--concurrency must be at least 1")
    if args.models_dir is not None and not args.models_dir.is_dir():
        raise ValueError(f"--models-dir {args.models_dir}: not a folder")
    if args.extractor_arch is not None and is_model_directory(args.extractor):
        raise ValueError(ARCH_WITH_DIRECTORY)
    synth = SynthConfig(vocoder=args.vocoder, vocoder_config=args.vocoder_config,
                        acoustic=args.acoustic, vc_vocoder=args.vc_vocoder,
                        vc_vocoder_config=args.vc_vocoder_config,
                        extractor=args.extractor,
                        extractor_arch=args.extractor_arch or DEFAULT_EXTRACTOR_ARCH,
                        layer=args.layer)
    limits = Limits(max_upload_mb=args.max_upload_mb, max_seconds=args.max_seconds,
                    max_text_chars=args.max_text_chars, max_references=args.max_references)
    return ServiceConfig(synth=synth, device=args.device, dtype=args.dtype,
                         max_model_bytes=int(args.max_model_gb * 1e9), models_dir=args.models_dir,
                         voices_dir=args.voices_dir, temp_dir=temp_dir, limits=limits,
                         concurrency=args.concurrency, queue_size=args.queue_size)


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


def launch_options(service: SynthService, args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of ``launch()``: address, limits and what may be served.

    Gradio serves its upload/output folder (``GRADIO_TEMP_DIR``, inside the app's temp
    folder), its examples cache (``.gradio/cached_examples`` under the working folder; the
    app caches no examples, so it is blocked) and ``allowed_paths`` (none). The model cache,
    voices and models folders are blocked too, in case they lie inside a served folder.
    """
    examples_cache = Path(os.environ.get("GRADIO_EXAMPLES_CACHE",
                                         ".gradio/cached_examples")).resolve()
    catalog = service.catalog
    blocked = [str(service.cache.home), str(catalog.voices_dir), str(examples_cache)]
    if catalog.models_dir is not None:
        blocked.append(str(catalog.models_dir))
    blocked = [b for b in blocked if not service.temp_dir.is_relative_to(Path(b))]
    return dict(server_name=args.host, server_port=args.port, share=args.share,
                root_path=args.root_path, max_file_size=service.limits.max_upload_bytes,
                allowed_paths=[], blocked_paths=blocked, show_error=False,
                footer_links=["api"], ssr_mode=False, mcp_server=False, theme=theme(), css=CSS,
                quiet=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Start the app (blocks until interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    temp = TempFolder.make(args.temp_dir)
    try:
        config = config_from_args(args, temp.path)
    except ValueError as exc:
        temp.cleanup()
        parser.error(str(exc))
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    quiet_transformers()
    # Gradio keeps uploads and the files it serves under GRADIO_TEMP_DIR: the app's own.
    os.environ["GRADIO_TEMP_DIR"] = str(temp.path / "gradio")
    try:
        from vocoder.inference import tune_cpu_allocator

        tune_cpu_allocator()
        try:
            service = SynthService(config, ModelCache.from_env())
        except (ValueError, HifisynthError) as exc:
            print(f"app.py: error: {one_line(exc)}", file=sys.stderr)
            return 2
        if not args.no_preload:
            for problem in service.preload():
                LOG.warning("not loaded (its tab will say how to fix it): %s", problem)
        demo = build_ui(service)
        LOG.info("device %s, %s; %d synthesis request(s) at once", service.hub.device,
                 str(service.hub.dtype).removeprefix("torch."), service.config.concurrency)
        demo.launch(**launch_options(service, args))
    except KeyboardInterrupt:
        pass
    finally:
        temp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
