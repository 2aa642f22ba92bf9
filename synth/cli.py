"""The ``synth`` command: one argparse sub-command per module in :mod:`synth.commands`.

A command module ``synth/commands/<name>.py`` defines::

    def register(subparsers: argparse._SubParsersAction) -> None:
        parser = subparsers.add_parser("<name>", help="...", description="...")
        parser.add_argument(...)
        parser.set_defaults(handler=run)        # run(args: argparse.Namespace) -> int

and is listed in :data:`COMMANDS`. Command modules import heavy things (torch, models) inside
their handlers, so ``synth --help`` stays fast.

Errors: a handler raises :class:`CommandError` or lets a library error through; every error
a user can act on derives from :class:`vocoder.errors.HifisynthError`, and :func:`main` prints
it as one line on stderr (:func:`error_line`, which adds the command's own hints: which
option to use, which command fetches a model) and returns its ``exit_code``: 2 for bad input
(the default), 1 for failures the input did not cause (a download that failed, a broken
installation). Usage errors print one line and exit with 2 as well.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from vocoder.errors import HifisynthError, one_line

#: Sub-command modules under ``synth.commands``, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = ("tts", "convert", "resynth", "vocode", "voice", "batch", "features",
                             "prematch", "models")


class CommandError(HifisynthError):
    """A problem with the command's input; printed as one line, exit code ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line on stderr (exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> ArgumentParser:
    """The ``synth`` parser with every registered sub-command."""
    from synth import __version__
    from vocoder.dependencies import version_line

    parser = ArgumentParser(
        prog="synth",
        description="hifisynth's synthesis command: pretrained models, text to speech, voice "
                    "conversion and copy synthesis through a HiFi-GAN vocoder.",
        epilog="Run 'synth COMMAND --help' for a command's options. Environment: "
               "HIFISYNTH_HOME (model cache, default ~/.cache/hifisynth), HIFISYNTH_OFFLINE=1 "
               "(never use the network).")
    parser.add_argument("--version", action="version", version=version_line("synth", __version__))
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands",
                                       parser_class=ArgumentParser)
    subparsers.required = True
    for name in COMMANDS:
        importlib.import_module(f"synth.commands.{name}").register(subparsers)
    return parser


def quiet_transformers() -> None:
    """Keep Hugging Face ``transformers``' loading chatter (its load report, its "Loading
    weights" progress bar) off the terminal: hifisynth checks what it loads and says what is
    wrong in one line. For entry points; a ``TRANSFORMERS_VERBOSITY`` the user set wins."""
    if "TRANSFORMERS_VERBOSITY" in os.environ:
        return
    os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    module = sys.modules.get("transformers")
    if module is not None:  # imported already: it read the variables then
        module.logging.set_verbosity_error()
        module.logging.disable_progress_bar()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``synth`` command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_transformers()
    handler = getattr(args, "handler", None)
    if handler is None:  # a command group called without its sub-command
        parser.error(f"'{args.command}' needs a sub-command")
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("synth: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `synth models list | head -1`
        return 0
    except Exception as exc:  # noqa: BLE001 - user errors become one line, bugs re-raise
        if not isinstance(exc, HifisynthError):  # a bug: keep its traceback
            raise
        print(error_line(exc, args), file=sys.stderr)
        return exc.exit_code


#: Which option takes a model of each kind.
KIND_OPTIONS = {"mel_vocoder": "--vocoder", "feature_vocoder": "--vc-vocoder",
                "feature_extractor": "--extractor", "acoustic_model": "--acoustic"}


#: Which option raises each limit (an error's ``key``).
LIMIT_OPTIONS = {"max_seconds": "max_seconds", "max_audio_seconds": "max_seconds",
                 "max_text_chars": "max_text_chars"}


def error_line(exc: BaseException, args: argparse.Namespace | None = None) -> str:
    """``synth: error: <message>`` on one line, with the command's hints for model errors:
    how to fetch a missing model, the Griffin-Lim vocoder when a mel vocoder is missing, the
    option a model of another kind belongs to, the base voice when an acoustic model is, the
    options that pair an acoustic model with a vocoder; and, for a limit the command has an
    option for (in ``args``), that option."""
    from synth.acoustic.interface import DecoderStopError, MelMismatchError
    from synth.models import ModelKindError, ModelUnavailableError

    message = one_line(exc)
    option = LIMIT_OPTIONS.get(getattr(exc, "key", None) or "")
    if option is not None and args is not None and option in vars(args):
        message += f" (raise it with --{option.replace('_', '-')})"
    if isinstance(exc, ModelUnavailableError) and exc.models:
        names = " ".join(exc.models)
        if exc.offline:
            message += (f" (HIFISYNTH_OFFLINE=1 forbids downloading: unset it and run "
                        f"`synth models download {names}`)")
        elif exc.reason == "missing":
            message += f"; or run `synth models download {names}`"
        if "mel_vocoder" in exc.kinds:
            message += (". Without it, the Griffin-Lim vocoder works with no download "
                        "(lower quality): --vocoder griffinlim")
        if "acoustic_model" in exc.kinds:
            message += (". Without it, the espeak-ng base voice needs no download: "
                        "--acoustic espeak")
    elif isinstance(exc, ModelKindError) and exc.kind in KIND_OPTIONS:
        message += f" (use it with {KIND_OPTIONS[exc.kind]})"
    elif isinstance(exc, MelMismatchError):
        message += (" (--vocoder: one trained on the acoustic model's mel, e.g. "
                    "hifigan-v3-ljspeech or griffinlim; or --acoustic espeak)")
    elif isinstance(exc, DecoderStopError):
        message += " (--seed: another seed)"
    return f"synth: error: {message}"
