"""Options shared by the synthesis sub-commands and the :class:`Synthesizer` they build.

Not a sub-command itself (not listed in :data:`synth.cli.COMMANDS`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

#: Refusing ``--extractor-arch`` with a Hugging Face model directory.
ARCH_WITH_DIRECTORY = ("--extractor-arch goes with an --extractor file, not a model directory "
                       "(its config.json gives the architecture)")

VOCODER_HELP = (
    "mel vocoder: a registry name (default %(default)s; see 'synth models list': other "
    "toolkits' vocoders too), a checkpoint path of any family (its config files beside it, or "
    "--vocoder-config), 'griffinlim' (no weights needed, low quality) or 'none' (text to speech "
    "only: the espeak-ng base voice as it is); audio and text go through the mel it expects")


def add_vocoder_options(parser: argparse.ArgumentParser, *, mel: bool = True,
                        vc: bool = False) -> None:
    """``--vocoder``/``--vocoder-config`` (``mel``), the voice-conversion models (``vc``),
    and ``--device``/``--dtype``."""
    from synth.defaults import (DEFAULT_EXTRACTOR, DEFAULT_EXTRACTOR_ARCH, DEFAULT_MEL_VOCODER,
                                DEFAULT_VC_VOCODER)

    group = parser.add_argument_group("models and device")
    if mel:
        group.add_argument("--vocoder", default=DEFAULT_MEL_VOCODER, metavar="NAME|PATH",
                           help=VOCODER_HELP)
        group.add_argument("--vocoder-config", metavar="CONFIG",
                           help="config.json (or preset v1/v2/v3, or the family's config file or "
                                "mel preset) for a --vocoder checkpoint path; for griffinlim, "
                                "the mel settings to invert (default: the published 22.05 kHz "
                                "ones)")
    if vc:
        group.add_argument("--vc-vocoder", default=DEFAULT_VC_VOCODER, metavar="NAME|PATH",
                           help="feature vocoder for voice conversion (default %(default)s)")
        group.add_argument("--vc-vocoder-config", metavar="CONFIG",
                           help="config.json for a --vc-vocoder checkpoint path")
        group.add_argument("--extractor", default=DEFAULT_EXTRACTOR, metavar="NAME|PATH|DIR",
                           help="SSL feature extractor for voice conversion (default %(default)s; "
                                "a file is read as --extractor-arch weights, a folder as a "
                                "Hugging Face model directory)")
        group.add_argument("--extractor-arch", metavar="ARCH",
                           help="torchaudio architecture of an --extractor file (default "
                                f"{DEFAULT_EXTRACTOR_ARCH})")
        group.add_argument("--layer", type=int, metavar="N",
                           help="feature layer for kNN-VC (default: the extractor's, 6 for WavLM)")
        group.add_argument("-k", type=int, default=4, metavar="K",
                           help="nearest neighbours averaged per frame (default %(default)s)")
        group.add_argument("--loudness", type=_loudness, default=-16.0, metavar="LUFS",
                           help="loudness of converted speech in LUFS (default %(default)s; "
                                "'none' keeps it as it comes)")
    group.add_argument("--device", default="auto",
                       help="auto (CUDA if present, cuda:LOCAL_RANK under torchrun), cpu, cuda, "
                            "cuda:N")
    group.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                       help="vocoder compute dtype (float16 needs a GPU; griffinlim is float32)")


def add_limit_options(parser: argparse.ArgumentParser, *, text: bool = False,
                      audio: bool = True) -> None:
    """``--max-text-chars`` (``text``) and ``--max-seconds`` (``audio``): the limits that keep
    one input from taking unbounded memory."""
    from synth.commands.corpus_options import positive_float, positive_int
    from synth.defaults import MAX_TEXT_CHARS
    from vocoder.audio import MAX_SECONDS

    group = parser.add_argument_group("limits")
    if text:
        group.add_argument("--max-text-chars", type=positive_int, default=MAX_TEXT_CHARS,
                           metavar="N",
                           help="longest text spoken at once (default %(default)s characters; "
                                "it is held in memory whole, as audio, mel and output)")
    if audio:
        group.add_argument("--max-seconds", type=positive_float, default=MAX_SECONDS,
                           metavar="S",
                           help="longest audio file read, or mel vocoded (default %(default)g "
                                "s; a file is held in memory whole)")


def _loudness(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of LUFS or 'none', got {text!r}") from None


def pick_device_arg(device: str) -> str:
    """``auto`` under torchrun (``LOCAL_RANK`` set) with CUDA present -> ``cuda:LOCAL_RANK``."""
    if device == "auto" and os.environ.get("LOCAL_RANK", "").isdigit():
        import torch

        if torch.cuda.is_available():
            return f"cuda:{int(os.environ['LOCAL_RANK']) % torch.cuda.device_count()}"
    return device


def make_synthesizer(args: argparse.Namespace, **overrides):
    """One :class:`synth.hub.ModelHub` (the model cache from the environment, ``--device``,
    ``--dtype``) and the :class:`synth.pipeline.Synthesizer` the options describe;
    ``overrides`` replace :class:`synth.pipeline.SynthConfig` fields."""
    from synth.defaults import NO_VOCODER
    from synth.hub import ModelHub
    from synth.pipeline import SynthConfig, Synthesizer
    from vocoder.inference import tune_cpu_allocator

    tune_cpu_allocator()
    settings: dict = {"vocoder": NO_VOCODER}
    if hasattr(args, "vocoder"):
        settings.update(vocoder=args.vocoder, vocoder_config=args.vocoder_config)
    if hasattr(args, "vc_vocoder"):
        settings.update(vc_vocoder=args.vc_vocoder, vc_vocoder_config=args.vc_vocoder_config,
                        extractor=args.extractor, layer=args.layer, k=args.k,
                        loudness=args.loudness)
        if args.extractor_arch is not None:
            from synth.loaders import is_model_directory

            if is_model_directory(args.extractor):
                from synth.cli import CommandError

                raise CommandError(ARCH_WITH_DIRECTORY)
            settings["extractor_arch"] = args.extractor_arch
    if hasattr(args, "max_text_chars"):
        settings.update(max_text_chars=args.max_text_chars)
    if hasattr(args, "max_seconds"):
        settings.update(max_audio_seconds=args.max_seconds)
    settings.update(overrides)
    try:
        hub = ModelHub.from_env(device=pick_device_arg(args.device), dtype=args.dtype)
        return Synthesizer(hub, SynthConfig(**settings))
    except ValueError as exc:  # device/dtype choices, settings out of range
        from synth.cli import CommandError

        raise CommandError(str(exc)) from None


def check_output(path: str, suffix: str = ".wav") -> Path:
    """The ``-o`` path, refused if it is a folder."""
    from synth.cli import CommandError

    out = Path(path)
    if out.is_dir():
        raise CommandError(f"{out}: is a folder; give a file name for the output (e.g. "
                           f"{out / ('out' + suffix)})")
    return out


def report(result, path: Path, detail: str = "") -> None:
    """One line on stdout: what was written (and ``detail``: what made it)."""
    more = f"; {detail}" if detail else ""
    print(f"wrote {path} ({result.seconds:.2f} s at {result.sample_rate} Hz{more})")
