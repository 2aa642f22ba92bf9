"""The one output writer: every file hifisynth writes goes to a temp file beside the target,
then is renamed over it.

A crash or kill at any moment leaves either the old file or the complete new one, never a
partial file under the target's name; a temp file a kill left behind (``.NAME.XXXXXXXX.tmp``)
is removed by the next run that writes ``NAME`` (:func:`remove_stale_temps`).

Every way a write can fail - a read-only folder, a file where the folder should be, a folder
where the file should be, a name too long for the file system, a full disk - is one
:class:`OutputError` naming the file and the reason, whatever library did the writing:
writers are given a Python file object (:func:`atomic_open`), so the operating system's error
reaches us as it is (soundfile and ``torch.save`` to a path report a full disk as a bare
``LibsndfileError`` or a ``RuntimeError`` without the cause).
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Collection, Iterator

from .errors import HifisynthError, shown

#: Longest file name (bytes) the temp file of a target may need: ``.NAME.XXXXXXXX.tmp`` on a
#: file system allowing 255-byte names.
MAX_NAME_BYTES = 255 - len(".") - len(".XXXXXXXX.tmp")


class OutputError(HifisynthError):
    """An output that cannot be written; the message names it and says why (exit code 2)."""


def make_dir(path: str | os.PathLike) -> Path:
    """Create a folder (and its parents) for outputs; :class:`OutputError` when impossible."""
    path = Path(path)
    if path.is_dir():
        return path
    if path.exists():
        raise OutputError(f"{shown(path)}: is a file, not a folder; cannot write outputs into it")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{shown(path)}: cannot create the folder ({_reason(exc)})") from None
    return path


def check_name(path: str | os.PathLike) -> None:
    """Refuse a target whose file name (with its temp file's additions) is too long."""
    size = len(os.fsencode(Path(path).name))
    if size > MAX_NAME_BYTES:
        raise OutputError(f"{shown(path)}: file name of {size} bytes is too long (at most "
                          f"{MAX_NAME_BYTES} bytes, UTF-8)")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it over ``path``, else delete it.

    An ``OSError`` while writing or renaming becomes :class:`OutputError`. Prefer
    :func:`atomic_open`: libraries that write to a path themselves may hide the cause.
    """
    path = Path(path)
    make_dir(path.parent)
    check_name(path)
    if path.is_dir():
        raise OutputError(f"{shown(path)}: is a folder; cannot write a file in its place")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"{shown(path)}: cannot write ({_reason(exc)})") from None
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give ordinary permissions
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{shown(path)}: cannot write ({_reason(exc)})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """Yield a binary file to write ``path`` through (:func:`atomic_path`); closed and renamed
    over ``path`` on success, deleted on any error."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            yield handle


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path) as handle:
        handle.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def save_npy(path: str | os.PathLike, array: Any) -> None:
    """``numpy.save`` an array (no pickles) to ``path`` atomically."""
    import numpy as np

    with atomic_open(path) as handle:
        # A plain-object wrapper: numpy then writes with handle.write (errors keep their
        # errno) instead of ndarray.tofile (an errno-less "requested and written" error).
        np.lib.format.write_array(_Writer(handle), np.asanyarray(array), allow_pickle=False)


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save`` ``obj`` to ``path`` atomically."""
    import torch

    with atomic_open(path) as handle:
        torch.save(obj, handle)


def remove_stale_temps(directory: str | os.PathLike,
                       targets: Collection[str] | Callable[[str], bool]) -> list[Path]:
    """Delete the temp files a killed writer left in ``directory`` for the given target names
    (a collection of names, or a test on a name). Temp files of other targets are left alone:
    another process may be writing them. Returns the files deleted."""
    directory = Path(directory)
    wanted = targets if callable(targets) else set(targets).__contains__
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        target = temp_target(entry.name)
        if target is not None and wanted(target) and entry.is_file(follow_symlinks=False):
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed


def temp_target(name: str) -> str | None:
    """The target a temp file name ``.NAME.XXXXXXXX.tmp`` belongs to (``None`` for others)."""
    if not (name.startswith(".") and name.endswith(".tmp")):
        return None
    target, dot, _ = name[1:-len(".tmp")].rpartition(".")
    return target if dot and target else None


class _Writer:
    def __init__(self, handle: IO[bytes]) -> None:
        self.write = handle.write


def _reason(exc: OSError) -> str:
    return exc.strerror or " ".join(str(exc).split()) or type(exc).__name__


def _umask() -> int:
    """The process umask, read without changing it (os.umask would race other threads)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


__all__ = ["MAX_NAME_BYTES", "OutputError", "atomic_open", "atomic_path", "check_name",
           "make_dir", "remove_stale_temps", "save_npy", "save_torch", "temp_target",
           "write_bytes", "write_text"]
