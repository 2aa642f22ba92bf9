"""The errors hifisynth reports to its users, and nothing else.

Every error a user can act on derives from :class:`HifisynthError`, which carries the exit
code a command ends with. Front ends (the ``vocoder`` and ``synth`` commands, the web app)
catch this one class, print its message as one line and add their own hints; anything else
is a bug and keeps its traceback. Library messages say what is wrong with which file or
value, never which command-line flag to use.

Exit codes: 2 for bad input (a file, a value, a model that does not fit), 1 for a failure
the input did not cause (a download that failed, a broken installation).
"""

from __future__ import annotations

import os


class HifisynthError(Exception):
    """An error the user can act on; the message names the file or value and what to do."""

    exit_code: int = 2


class InputError(HifisynthError, ValueError):
    """A value or array that cannot be used (wrong shape, out of range, not finite)."""


class DependencyError(HifisynthError, ImportError):
    """A package hifisynth needs is missing or cannot be imported (a broken installation)."""

    exit_code = 1


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (whitespace runs, newlines included, become one
    space); the exception's type name when it has no message."""
    return " ".join(str(exc).split()) or type(exc).__name__


def shown(path: str | os.PathLike | bytes) -> str:
    """A file name as messages show it: as it is when every character is printable, else
    quoted with Python's escapes (``'a\\nb.wav'``), so a newline or a terminal control
    sequence in a name can neither break a one-line message nor fake another line."""
    text = os.fsdecode(path) if isinstance(path, bytes) else os.fspath(path)
    return text if text.isprintable() else repr(text)


__all__ = ["DependencyError", "HifisynthError", "InputError", "one_line", "shown"]
