"""The ``synth`` command: one argparse sub-command per module in :mod:`synth.commands`.

A command module ``synth/commands/<name>.py`` defines::

    def register(subparsers: argparse._SubParsersAction) -> None:
        parser = subparsers.add_parser("<name>", help="...", description="...")
        parser.add_argument(...)
        parser.set_defaults(handler=run)        # run(args: argparse.Namespace) -> int

and is listed in :data:`COMMANDS`. Command modules import heavy things (torch, models) inside
their handlers, so ``synth --help`` stays fast.

Errors: a handler raises :class:`CommandError` (or a library error such as
``synth.models.ModelError``, ``vocoder.config.ConfigError``, ``vocoder.audio.AudioError``, or any
exception carrying an integer ``exit_code``); :func:`main` prints it as one line on stderr and
returns its exit code: 2 for bad input (the default), 1 for failures the input did not cause
(a download that failed). Usage errors print one line and exit with 2 as well.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

#: Sub-command modules under ``synth.commands``, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = ("tts", "convert", "resynth", "vocode", "voice", "batch", "features",
                             "prematch", "models")


class CommandError(Exception):
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

    parser = ArgumentParser(
        prog="synth",
        description="hifisynth's synthesis command: pretrained models, text to speech, voice "
                    "conversion and copy synthesis through a HiFi-GAN vocoder.",
        epilog="Run 'synth COMMAND --help' for a command's options. Environment: "
               "HIFISYNTH_HOME (model cache, default ~/.cache/hifisynth), HIFISYNTH_OFFLINE=1 "
               "(never use the network).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands",
                                       parser_class=ArgumentParser)
    subparsers.required = True
    for name in COMMANDS:
        importlib.import_module(f"synth.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``synth`` command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
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
        code = _user_error_code(exc)
        if code is None:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"synth: error: {message}", file=sys.stderr)
        return code


def _user_error_code(exc: BaseException) -> int | None:
    """The exit code for an error the user can act on, or ``None`` for a bug."""
    code = getattr(exc, "exit_code", None)
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    from vocoder.audio import AudioError
    from vocoder.checkpoint import CheckpointError
    from vocoder.config import ConfigError

    from synth.text import TextError

    user_errors: tuple[type[BaseException], ...] = (ConfigError, AudioError, CheckpointError,
                                                    TextError)
    try:
        from synth.features import FeatureError
        from synth.knnvc import MatchingSetError

        user_errors += (FeatureError, MatchingSetError)
    except ImportError:
        pass
    if isinstance(exc, user_errors):
        return 2
    return None
