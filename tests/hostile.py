"""The harness of the hostile-input tests: a fresh child process per case, its peak memory,
and the broken files and places those cases need, all built here.

:func:`run_child` runs a command as a user would, in a new process with an address-space limit
(so a regression fails fast instead of eating the machine) and reports that process's own
peak resident memory (``getrusage(RUSAGE_CHILDREN)`` in a launcher of its own). :func:`small_filesystem`
gives a full (tiny tmpfs) or read-only folder when this process may mount one (root), and
:func:`full_disk_fallback` a file-size limit that makes writes fail the same way otherwise.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from tests.conftest import REPO

#: Address space a child may map: torch maps about 3.8 GB of (mostly unused) virtual memory
#: on import; the 1 Hz WAV regression asked for 12-16 GB.
ADDRESS_SPACE_BYTES = 10 << 30
#: Found once, so a test that empties PATH can still mount and unmount.
MOUNT, UMOUNT = shutil.which("mount"), shutil.which("umount")


@dataclass
class Outcome:
    """What a child process did: exit status, output, its own peak RSS in MB, seconds."""

    returncode: int
    stdout: str
    stderr: str
    peak_mb: float
    seconds: float

    @property
    def error_lines(self) -> list[str]:
        return self.stderr.splitlines()

    def describe(self) -> str:
        return (f"exit {self.returncode}, {self.peak_mb:.0f} MB, {self.seconds:.1f} s\n"
                f"stdout: {self.stdout[-2000:]}\nstderr: {self.stderr[-4000:]}")


#: Runs the command as its own child and writes that child's peak RSS (kB) to a file. The
#: command is not forked from pytest itself: a forked child's ``ru_maxrss`` starts at its
#: parent's resident size (the kernel carries the forked copy's size over the exec), which in
#: a long test session is over a gigabyte; this small process's children start from its few MB.
_WRAPPER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as report:
    report.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code if code >= 0 else 128 - code)
"""


def run_child(args: Sequence[str | os.PathLike], *, cwd: Path, stdin: bytes | None = None,
              timeout: float = 600, file_size_limit: int | None = None,
              env: dict[str, str] | None = None) -> Outcome:
    """Run ``python -m ...``-style ``args`` in a fresh process (``PYTHONPATH`` = this
    checkout), with :data:`ADDRESS_SPACE_BYTES` of address space and, if given, a file-size
    limit (writes past it fail with EFBIG, as on a full disk). Returns its :class:`Outcome`;
    the peak memory is that process's own (``getrusage(RUSAGE_CHILDREN)`` of a small
    launcher whose one child it is)."""
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = str(REPO)
    child_env.pop("HIFISYNTH_OFFLINE", None)

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))
        if file_size_limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "peak"
        command = [sys.executable, "-c", _WRAPPER, str(report), sys.executable, *map(str, args)]
        with open(Path(scratch) / "out", "w+b") as out, open(Path(scratch) / "err", "w+b") as err:
            started = time.monotonic()
            process = subprocess.Popen(command, cwd=cwd, env=child_env,
                                       stdin=subprocess.PIPE if stdin is not None else
                                       subprocess.DEVNULL, stdout=out, stderr=err,
                                       preexec_fn=limits)
            if stdin is not None:
                try:
                    process.stdin.write(stdin)
                except BrokenPipeError:
                    pass
                process.stdin.close()
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise AssertionError(f"{args} ran longer than {timeout} s") from None
            seconds = time.monotonic() - started
            out.seek(0)
            err.seek(0)
            peak_kb = int(report.read_text()) if report.exists() else 0
            outcome = Outcome(code, out.read().decode(errors="replace"),
                              err.read().decode(errors="replace"), peak_kb / 1024, seconds)
    record = os.environ.get("HIFISYNTH_PEAKS")  # a file to list each case's peak memory in
    if record:
        with open(record, "a", encoding="utf-8") as handle:
            handle.write(f"{outcome.peak_mb:7.0f} MB  exit {code}  {seconds:5.1f} s  "
                         f"{' '.join(Path(str(a)).name for a in args[:4])}\n")
    return outcome


def files_under(folder: Path) -> list[str]:
    """Every file under ``folder`` (temp files included), relative, sorted."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def assert_one_clean_line(outcome: Outcome, prefix: str, *needles: str) -> str:
    """Exactly one line on stderr, starting with ``prefix`` and holding every needle; no
    traceback. Returns the line."""
    lines = outcome.error_lines
    assert len(lines) == 1, outcome.describe()
    line = lines[0]
    assert line.startswith(prefix), outcome.describe()
    assert "Traceback" not in outcome.stderr, outcome.describe()
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


# ------------------------------------------------------------------------------ places


def can_mount() -> bool:
    """Whether this process may mount a tmpfs (root in a system that allows it)."""
    if os.geteuid() != 0 or MOUNT is None or UMOUNT is None:
        return False
    probe = Path(tempfile.mkdtemp(prefix="hifisynth-mount-probe-"))
    try:
        ok = subprocess.run([MOUNT, "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                            capture_output=True).returncode == 0
        if ok:
            subprocess.run([UMOUNT, str(probe)], capture_output=True)
        return ok
    finally:
        probe.rmdir()


@contextmanager
def small_filesystem(folder: Path, size: str = "64k", read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``folder`` (created), read-only if asked; unmounted
    after. Needs :func:`can_mount`."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    subprocess.run([MOUNT, "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True,
                   capture_output=True)
    try:
        yield folder
    finally:
        subprocess.run([UMOUNT, "-l", str(folder)], capture_output=True)


def fill(folder: Path, leave: int = 0) -> None:
    """Fill the file system of ``folder`` up to ``leave`` bytes."""
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    with open(folder / ".filler", "wb") as handle:
        try:
            handle.write(b"\0" * max(0, free - leave))
        except OSError:
            pass


# ------------------------------------------------------------------------------ inputs


def wav_bytes(samples: np.ndarray | int, rate: int) -> bytes:
    """A 16-bit mono WAV file (its header claims ``rate``, whatever it is)."""
    data = (np.zeros(samples, "<i2") if isinstance(samples, int)
            else (np.clip(samples, -1, 1) * 32767).astype("<i2")).tobytes()
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, rate, 2 * rate, 2, 16)
            + b"data" + struct.pack("<I", len(data)) + data)


def long_wav(path: Path, seconds: float, rate: int, head: np.ndarray) -> Path:
    """A WAV of ``seconds`` at ``rate`` that starts with ``head`` and is silent after, written
    as a sparse file (the silence takes no disk)."""
    samples = int(seconds * rate)
    data_bytes = 2 * samples
    with open(path, "wb") as handle:
        handle.write(b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + b"fmt "
                     + struct.pack("<IHHIIHH", 16, 1, 1, rate, 2 * rate, 2, 16)
                     + b"data" + struct.pack("<I", data_bytes))
        handle.write((np.clip(head, -1, 1) * 32767).astype("<i2").tobytes())
        handle.truncate(44 + data_bytes)
    return path


def zip_bomb(path: Path, inflated: int = 2 << 30, key: str = "conv_pre.weight") -> Path:
    """A ``torch.save`` checkpoint whose one storage entry is ``inflated`` bytes of zeros,
    deflated (about 1/1000 of that on disk): what a vocoder upload could be."""
    import torch

    source = path.with_suffix(".src")
    torch.save({"generator": {key: torch.zeros(4)}}, source)
    chunk = bytes(1 << 22)
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            if info.filename.endswith("/data/0"):
                entry.compress_type = zipfile.ZIP_DEFLATED
                with dst.open(entry, "w", force_zip64=True) as handle:
                    for _ in range(inflated // len(chunk)):
                        handle.write(chunk)
            else:
                dst.writestr(entry, src.read(info))
    source.unlink()
    return path


class RunsCode:
    """Pickled, it would run ``touch MARKER`` when loaded (as long as loading allowed it)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def code_running_checkpoints(folder: Path, marker: Path) -> dict[str, Path]:
    """The same ``os.system`` payload in the ways a file can carry it: torch's zip format,
    its legacy format, and plain pickles of protocols 0, 2 and 4."""
    import pickle

    import torch

    folder.mkdir(parents=True, exist_ok=True)
    payload = {"generator": {"conv_pre.weight": torch.zeros(2)}, "extra": RunsCode(marker)}
    files = {"zip": folder / "zip.pt", "legacy": folder / "legacy.pt"}
    torch.save(payload, files["zip"])
    torch.save(payload, files["legacy"], _use_new_zipfile_serialization=False)
    for protocol in (0, 2, 4):
        files[f"pickle{protocol}"] = folder / f"pickle{protocol}.pkl"
        files[f"pickle{protocol}"].write_bytes(pickle.dumps({"x": RunsCode(marker)},
                                                            protocol=protocol))
    return files


def python_module(*args: str | os.PathLike) -> list[str]:
    """``-m MODULE args...`` for :func:`run_child`."""
    return ["-m", *map(str, args)]


