"""Resumable HTTP(S)/file downloads into a ``.part`` file, with retries and progress.

Only the standard library (``urllib``). A transfer that breaks off part-way keeps its bytes
and the next attempt resumes with an HTTP ``Range`` request; a server that ignores ranges, or
resumes at the wrong byte, makes the download start over. Checking the finished bytes and
moving them into place is the cache's job (:class:`vocoder.models.ModelCache`).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Callable, Iterator, TextIO

from .. import __version__

from .errors import ModelUnavailableError

ProgressCallback = Callable[[int, "int | None"], None]


class _Retry(Exception):
    """A transfer that stopped part-way; the ``.part`` file is kept and resumed."""


class _Fatal(Exception):
    """A URL that will not give the expected file; the next URL (if any) is tried."""


@dataclass
class Downloader:
    """How files are fetched.

    Args:
        timeout: seconds to wait on a stalled connection.
        retries: attempts per URL when a transfer breaks off part-way (each resumes).
        retry_wait: seconds to wait before the second attempt (doubling after).
        chunk_size: bytes read at a time.
        progress: show a tqdm progress bar on ``messages``.
        messages: where notes and the bar go (default: ``sys.stderr`` at call time).
        on_progress: called as ``on_progress(bytes_done, bytes_total_or_None)``.
    """

    timeout: float = 30.0
    retries: int = 3
    retry_wait: float = 1.0
    chunk_size: int = 1 << 16
    progress: bool = True
    messages: TextIO | None = None
    on_progress: ProgressCallback | None = None

    def fetch(self, name: str, url: str, part: Path, expected_size: int | None) -> str | None:
        """Download ``url`` into ``part`` (resuming what is there); ``None`` on success, else
        why it failed (one line)."""
        wait = self.retry_wait
        last = "no attempt made"
        for attempt in range(max(1, self.retries)):
            if attempt:
                time.sleep(wait)
                wait *= 2
            try:
                self._transfer(name, url, part, expected_size)
                return None
            except _Retry as exc:
                last = str(exc)
                continue
            except _Fatal as exc:
                return str(exc)
            except urllib.error.HTTPError as exc:
                return f"HTTP {exc.code} {exc.reason}"
            except urllib.error.URLError as exc:
                reason = exc.reason
                if isinstance(reason, (socket.timeout, TimeoutError)):
                    last = f"timed out after {self.timeout:g} s"
                    continue
                return f"{reason}"
            except (socket.timeout, TimeoutError):
                last = f"timed out after {self.timeout:g} s"
                continue
            except (ConnectionError, HTTPException) as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
        return f"{last}; gave up after {max(1, self.retries)} attempts"

    def note(self, message: str) -> None:
        print(f"hifisynth: {message}", file=self.messages or sys.stderr, flush=True)

    def _transfer(self, name: str, url: str, part: Path, expected_size: int | None) -> None:
        offset = part.stat().st_size if part.is_file() else 0
        headers = {"User-Agent": f"hifisynth/{__version__}"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        request = urllib.request.Request(url, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:
                total = _total_from_content_range(exc.headers.get("Content-Range", ""))
                exc.close()
                if total is not None and total == offset:
                    return  # the .part file already holds every byte
                part.unlink(missing_ok=True)
                raise _Retry("server refused to resume the partial file; starting over") from None
            raise
        with response:
            status = getattr(response, "status", None) or response.getcode()
            length = _int_or_none(response.headers.get("Content-Length"))
            if offset and status == 206:
                start = _start_from_content_range(response.headers.get("Content-Range", ""))
                if start != offset:
                    part.unlink(missing_ok=True)
                    raise _Retry(f"server resumed at byte {start}, not {offset}; starting over")
                total = _total_from_content_range(response.headers.get("Content-Range", ""))
                if total is None and length is not None:
                    total = offset + length
                mode = "ab"
            else:  # 200 (or a file:// URL): the whole file from byte 0
                offset, total, mode = 0, length, "wb"
            if expected_size is not None and total is not None and total != expected_size:
                raise _Fatal(f"server offers {total} bytes, the registry expects {expected_size}")
            if offset:
                self.note(f"resuming download of '{name}' at byte {offset}")
            done = offset
            try:
                out = open(part, mode)
            except OSError as exc:
                raise ModelUnavailableError(f"cannot write {part}: {exc.strerror}",
                                            models=[name]) from None
            with out, self._bar(name, total, offset) as bar:
                while True:
                    try:
                        chunk = response.read(self.chunk_size)
                    except (socket.timeout, TimeoutError, ConnectionError, HTTPException) as exc:
                        why = str(exc) or type(exc).__name__
                        raise _Retry(f"connection lost after {done} bytes ({why})") from None
                    if not chunk:
                        break
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        raise ModelUnavailableError(f"cannot write {part}: {exc.strerror}",
                                                    models=[name]) from None
                    done += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
                    if self.on_progress is not None:
                        self.on_progress(done, total)
            if total is not None and done < total:
                raise _Retry(f"connection closed after {done} of {total} bytes")

    @contextmanager
    def _bar(self, name: str, total: int | None, initial: int) -> Iterator:
        if not self.progress:
            yield None
            return
        from tqdm import tqdm

        with tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=name, file=self.messages or sys.stderr, leave=True,
                  dynamic_ncols=True) as bar:
            yield bar


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _start_from_content_range(value: str) -> int | None:
    match = re.match(r"^\s*bytes\s+(\d+)-\d+/(?:\d+|\*)\s*$", value or "")
    return int(match.group(1)) if match else None


def _total_from_content_range(value: str) -> int | None:
    match = re.match(r"^\s*bytes\s+(?:\d+-\d+|\*)/(\d+)\s*$", value or "")
    return int(match.group(1)) if match else None


__all__ = ["Downloader", "ProgressCallback", "sha256_file"]
