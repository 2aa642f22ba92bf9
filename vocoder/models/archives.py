"""Unpacking a downloaded model archive (zip or tar) safely.

Toolkits publish some vocoders as one archive of their files (ParallelWaveGAN: a ``.tar.gz``
of ``checkpoint-*.pkl``, ``config.yml`` and ``stats.h5``; Coqui TTS: a ``.zip`` of
``model_file.pth`` and ``config.json``). Their own downloaders unpack the regular files side
by side, whatever folder the archive put them in; :func:`unpack` does the same, refusing
what no model archive needs and an attacker could use:

- a member whose name is absolute (``/etc/x``, ``C:\\x``) or climbs out (``..``);
- links (symbolic or hard) and special files (devices, pipes): the model's files are
  written as plain files, never through a link;
- more bytes than ``max_bytes`` in all (a decompression bomb), or more than
  ``max_members`` files; the count is of the bytes actually written, not of the sizes the
  archive declares;
- two members with the same file name (one would silently replace the other).

Hidden files (``.DS_Store``, macOS ``__MACOSX/`` and ``._*`` forks) are skipped. Files go to a
new folder, so nothing outside it is ever written.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO, Iterator

from .errors import ModelError

CHUNK = 1 << 20


class ArchiveError(ModelError):
    """An archive that cannot be unpacked safely; the message names it and the member."""


def archive_kind(path: str | os.PathLike) -> str | None:
    """``"zip"`` or ``"tar"`` (any compression) by content, or ``None`` for anything else
    (an HTML error page saved in its place, a truncated file)."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        with tarfile.open(path, "r:*"):
            return "tar"
    except (tarfile.TarError, OSError, EOFError):
        return None


def _member_name(archive: Path, name: str) -> str | None:
    """The file name a member is unpacked as (its last component), ``None`` to skip it, or an
    :class:`ArchiveError` for a name that is absolute or climbs out."""
    text = name.replace("\\", "/")
    parts = PurePosixPath(text).parts
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text) or ".." in parts:
        raise ArchiveError(f"{archive}: member {name!r} has an absolute path or '..'; refused "
                           "(a model archive never needs one)")
    if not parts or any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return None
    return parts[-1]


def _members(archive: Path, kind: str) -> Iterator[tuple[str, int, object]]:
    """``(name, declared_size, handle)`` of each regular file; links and special files are
    refused."""
    if kind == "zip":
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                mode = (info.external_attr >> 16) & 0o170000
                if mode not in (0, 0o100000):  # a symbolic link or special file
                    raise ArchiveError(f"{archive}: member {info.filename!r} is a link or a "
                                       "special file; refused")
                yield info.filename, info.file_size, (zf, info)
        return
    with tarfile.open(archive, "r:*") as tf:
        for info in tf:
            if info.isdir():
                continue
            if not info.isfile():
                what = "a link" if info.issym() or info.islnk() else "a special file"
                raise ArchiveError(f"{archive}: member {info.name!r} is {what}; refused")
            yield info.name, info.size, (tf, info)


def _open(handle: object) -> IO[bytes]:
    container, info = handle  # type: ignore[misc]
    if isinstance(container, zipfile.ZipFile):
        return container.open(info)
    stream = container.extractfile(info)
    if stream is None:  # pragma: no cover - regular members always have data
        raise ArchiveError(f"member {info.name!r} has no data")
    return stream


def unpack(archive: str | os.PathLike, dest: str | os.PathLike, *, max_bytes: int,
           max_members: int = 1000) -> list[str]:
    """Unpack the regular files of ``archive`` side by side into the new folder ``dest``.

    Args:
        archive: a zip or tar file (gzip, bzip2 or xz compressed, or not).
        dest: a folder that must not exist yet; it is made here.
        max_bytes: most bytes written in all.
        max_members: most files.

    Returns:
        The names of the files written, in archive order.

    Raises:
        ArchiveError: not an archive, or one that breaks a rule of the module docstring;
            ``dest`` is removed then.
    """
    archive, dest = Path(archive), Path(dest)
    kind = archive_kind(archive)
    if kind is None:
        raise ArchiveError(f"{archive}: not a zip or tar archive (or a damaged one)")
    dest.mkdir(parents=True)
    written: list[str] = []
    total = 0
    try:
        for name, declared, handle in _members(archive, kind):
            target = _member_name(archive, name)
            if target is None:
                continue
            if target in written:
                raise ArchiveError(f"{archive}: two members are called {target!r}; refused")
            if len(written) >= max_members:
                raise ArchiveError(f"{archive}: more than {max_members} files; refused")
            if total + declared > max_bytes:
                raise ArchiveError(f"{archive}: unpacks to more than {max_bytes} bytes; refused")
            with _open(handle) as src, open(dest / target, "xb") as out:
                while True:
                    block = src.read(CHUNK)
                    if not block:
                        break
                    total += len(block)
                    if total > max_bytes:
                        raise ArchiveError(f"{archive}: unpacks to more than {max_bytes} "
                                           "bytes; refused")
                    out.write(block)
            written.append(target)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, RuntimeError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise ArchiveError(f"{archive}: cannot unpack ({exc})") from None
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    if not written:
        shutil.rmtree(dest, ignore_errors=True)
        raise ArchiveError(f"{archive}: holds no files")
    return written


__all__ = ["ArchiveError", "archive_kind", "unpack"]
