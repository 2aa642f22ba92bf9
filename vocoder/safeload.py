"""Reading PyTorch files without running code from them and without inflating them.

Every ``torch.load`` in hifisynth goes through :func:`torch_load` (checkpoints of every
family through :func:`vocoder.checkpoint.read_checkpoint`, matching sets, feature files,
extractor weights), which refuses, naming the file and the sizes, before anything is read
into memory:

- a zip archive (what ``torch.save`` writes) with a compressed storage entry: ``torch.save``
  stores tensors uncompressed, so a deflated one is a file made to inflate (2 MB of deflated
  zeros become 2 GB);
- entries that overlap (several names for the same bytes) or claim more bytes in all than the
  file holds, other compressed entries beyond :data:`MAX_PICKLE_BYTES`;
- more bytes in all than the kind of file can need (``max_bytes``: :data:`MAX_CHECKPOINT_BYTES`
  for a vocoder checkpoint, and so on), which also bounds a legacy (pre-zip) file.

Unpickling allows tensors, plain containers and numpy numbers and arrays only
(``weights_only=True``); a file that would call anything else (``os.system``...) is refused
as unsafe, naming what it would call, however it is pickled. With ``finite=True`` a file whose
float tensors hold NaN or infinity is refused (a vocoder with NaN weights writes silence).
"""

from __future__ import annotations

import errno
import os
import pickle
import pickletools
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any, Iterator

from .config import MAX_GENERATOR_PARAMETERS
from .errors import InputError, shown

#: A vocoder checkpoint of any family: the largest generator the configs accept (float32),
#: with discriminators and two optimiser moments, as training checkpoints hold them.
MAX_CHECKPOINT_BYTES = 4 * 4 * MAX_GENERATOR_PARAMETERS
#: A saved voice (kNN-VC matching set): float16 features, about 5 hours of speech at 50 frames
#: per second and 1024 dimensions.
MAX_MATCHING_SET_BYTES = 2 << 30
#: One utterance's SSL features (``synth features``): an hour of float32 1024-dim frames.
MAX_FEATURE_FILE_BYTES = 1 << 30
#: Feature extractor weights: the largest wav2vec 2.0 family model (XLS-R 2B), float32.
MAX_EXTRACTOR_BYTES = 10 << 30
#: Any entry of an archive that is not a tensor storage (the pickle, version records).
MAX_PICKLE_BYTES = 64 << 20
#: Entries an archive may have (one per storage, and a few records).
MAX_ENTRIES = 1_000_000


class TorchFileError(InputError):
    """A PyTorch file that is refused or cannot be read; the message names it and says why.

    ``unsafe`` is True when it was refused because loading it would run code.
    """

    def __init__(self, message: str, unsafe: bool = False) -> None:
        super().__init__(message)
        self.unsafe = unsafe


def torch_load(path: str | os.PathLike, *, what: str = "file", max_bytes: int,
               mmap: bool = False, finite: bool = True) -> Any:
    """``torch.load`` a file safely onto the CPU (see the module docstring).

    Args:
        path: a file ``torch.save`` wrote (zip or legacy format).
        what: what messages call it (``"checkpoint"``, ``"matching set"``...).
        max_bytes: most bytes its tensors and records may take once loaded.
        mmap: map the storages instead of reading them (zip files only); they are not
            checked for NaN then.
        finite: refuse float tensors holding NaN or infinity.

    Raises:
        TorchFileError: missing, empty, corrupt, inflating, too big, unsafe or non-finite.
    """
    import torch

    path = Path(path)
    noun = what if what.endswith("file") else f"{what} file"
    if not path.is_file():
        raise TorchFileError(f"{shown(path)}: {noun} not found")
    if path.stat().st_size == 0:
        raise TorchFileError(f"{shown(path)}: {noun} is empty")
    check_archive(path, max_bytes, what)
    try:
        with warnings.catch_warnings():  # garbage reads as an odd pickle protocol: we say corrupt
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            with torch.serialization.safe_globals(_numpy_data_globals()):
                obj = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        refused = unsafe_globals(path)
        found = re.search(r"GLOBAL (\S+)", str(exc))
        if found and not refused:  # torch's own word, when our reading found nothing
            refused = [found.group(1)]
        if refused:
            raise TorchFileError(
                f"{shown(path)}: refused: loading it would run code ({refused[0]}"
                + (f" and {len(refused) - 1} more" if len(refused) > 1 else "")
                + "), so it is unsafe; only tensors and plain containers are accepted (re-save "
                "it with "
                "torch.save(model.state_dict(), ...) from a trusted environment)",
                unsafe=True) from None
        raise TorchFileError(f"{shown(path)}: not a PyTorch {what}, or the file is corrupt "
                             f"({_detail(exc)})") from None
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # torch's reader on a cut-short archive, not the disk
            raise TorchFileError(f"{shown(path)}: not a PyTorch {what}, or the file is corrupt "
                                 "(cut short: an interrupted download or copy?)") from None
        raise TorchFileError(f"{shown(path)}: cannot read {what} "
                             f"({exc.strerror or _detail(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - garbage makes the unpickler fail in any way
        raise TorchFileError(f"{shown(path)}: not a PyTorch {what}, or the file is corrupt "
                             f"({_detail(exc)})") from None
    if finite and not mmap:
        bad = first_nonfinite(obj)
        if bad is not None:
            raise TorchFileError(f"{shown(path)}: {bad} holds NaN or infinite values; the {what} "
                                 "is broken (a diverged training run?) and would make silence "
                                 "or noise")
    return obj


def check_archive(path: str | os.PathLike, max_bytes: int, what: str = "file") -> None:
    """Refuse a PyTorch file that would inflate or take more than ``max_bytes``, reading only
    its zip directory (see the module docstring). Not a zip: its size is checked (the legacy
    format stores tensors as they are)."""
    path = Path(path)
    size = path.stat().st_size
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        archive = None  # legacy format, or not a PyTorch file at all (the loader says which)
    if archive is None:
        if size > max_bytes:
            raise TorchFileError(f"{shown(path)}: {_size(size)} is more than a {what} can need "
                                 f"(at most {_size(max_bytes)})")
        return
    with archive:
        entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        raise TorchFileError(f"{shown(path)}: {len(entries):,} archive entries; a {what} has at "
                             f"most {MAX_ENTRIES:,}")
    stored = 0
    for entry in entries:
        if entry.compress_type == zipfile.ZIP_STORED:
            stored += entry.file_size
        elif _is_storage(entry.filename):
            raise TorchFileError(
                f"{shown(path)}: refused: tensor entry {shown(entry.filename)} is compressed "
                f"({_size(entry.compress_size)} that inflate to {_size(entry.file_size)}); "
                "torch.save stores tensors uncompressed, so this file was made to inflate")
        elif entry.file_size > MAX_PICKLE_BYTES:
            raise TorchFileError(
                f"{shown(path)}: refused: compressed entry {shown(entry.filename)} inflates to "
                f"{_size(entry.file_size)} (at most {_size(MAX_PICKLE_BYTES)})")
    if stored > size:
        raise TorchFileError(f"{shown(path)}: refused: its entries claim {_size(stored)} in a "
                             f"file of {_size(size)} (they overlap: the file was made to "
                             "inflate)")
    total = sum(entry.file_size for entry in entries)
    if total > max_bytes:
        raise TorchFileError(f"{shown(path)}: {_size(total)} once loaded is more than a {what} "
                             f"can need (at most {_size(max_bytes)})")


def unsafe_globals(path: str | os.PathLike) -> list[str]:
    """The callables a PyTorch file's pickle names that ``weights_only`` loading does not
    allow (``posix.system``...), found by reading its opcodes (nothing is run); empty for a
    file without any, or one that cannot be parsed."""
    path = Path(path)
    allowed = _allowed_globals()
    found: list[str] = []
    for data in _pickles(path):
        for name in _globals_in(data):
            if name not in allowed and name not in found:
                found.append(name)
    return found


def first_nonfinite(obj: Any) -> str | None:
    """The name (``'generator.conv_pre.weight'``) of the first float tensor or array in
    ``obj`` (nested dicts, lists, tuples; each container visited once) that holds NaN or
    infinity; ``None`` if none does."""
    import numpy as np
    import torch

    seen: set[int] = set()
    todo: list[tuple[str, Any]] = [("", obj)]
    while todo:
        name, value = todo.pop()
        if isinstance(value, torch.Tensor):
            if (value.is_floating_point() or value.is_complex()) \
                    and not bool(torch.isfinite(value).all()):
                return f"'{name or 'tensor'}'"
        elif isinstance(value, np.ndarray):
            if np.issubdtype(value.dtype, np.inexact) and not np.isfinite(value).all():
                return f"'{name or 'array'}'"
        elif isinstance(value, (dict, list, tuple)) and id(value) not in seen:
            seen.add(id(value))
            items = value.items() if isinstance(value, dict) else enumerate(value)
            todo.extend(reversed([(f"{name}.{key}" if name else str(key), item)
                                  for key, item in items]))
    return None


def _numpy_data_globals() -> list[Any]:
    """numpy's scalar and array reconstructors and dtypes: data only, no code (under both
    numpy 1's and numpy 2's module names, as files pickled by either carry them)."""
    import numpy as np

    core = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    found: list[Any] = [np.ndarray, np.dtype]
    for fn in (core.scalar, core._reconstruct):
        found += [fn] + [(fn, f"{mod}.{fn.__name__}")
                         for mod in ("numpy.core.multiarray", "numpy._core.multiarray")]
    found += [type(np.dtype(t)) for t in (np.float16, np.float32, np.float64, np.int8, np.int16,
                                          np.int32, np.int64, np.uint8, np.bool_)]
    return found


def _allowed_globals() -> set[str]:
    """``module.name`` of every global a weights-only load accepts here."""
    names: set[str] = set()
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        names.update(_get_allowed_globals())
    except Exception:  # noqa: BLE001 - a private helper; without it every global is named
        pass
    for item in _numpy_data_globals():
        if isinstance(item, tuple):
            names.add(item[1])
        else:
            names.add(f"{item.__module__}.{item.__qualname__}")
    for dtype_class in (item for item in _numpy_data_globals() if isinstance(item, type)):
        names.add(f"numpy.dtypes.{dtype_class.__name__}")
    return names


def _pickles(path: Path) -> Iterator[bytes]:
    """The pickles of a PyTorch file: ``*/data.pkl`` (and ``constants.pkl``) of a zip, or the
    leading pickles of a legacy file (magic, protocol, system info, data)."""
    try:
        with zipfile.ZipFile(path) as archive:
            for entry in archive.infolist():
                if entry.filename.endswith(".pkl") and entry.file_size <= MAX_PICKLE_BYTES:
                    yield archive.read(entry)
            return
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError,
            NotImplementedError):
        pass
    try:
        with open(path, "rb") as handle:
            yield handle.read(MAX_PICKLE_BYTES)
    except OSError:
        return


def _globals_in(data: bytes) -> list[str]:
    """``module.name`` of the globals (GLOBAL, INST, STACK_GLOBAL) in up to four pickles one
    after another in ``data``, read with :mod:`pickletools` (nothing is run)."""
    import io

    names: list[str] = []
    stream = io.BytesIO(data)
    with warnings.catch_warnings():  # pickletools warns about odd escapes in junk
        warnings.simplefilter("ignore")
        for _ in range(4):
            if not _read_one(stream, names):
                break
    return names


def _read_one(stream: Any, names: list[str]) -> bool:
    """Read one pickle's opcodes from ``stream``, adding the globals it names to ``names``;
    False when there is no (more) complete pickle."""
    strings: list[Any] = []  # the values pushed: strings, others as None
    memo: dict[Any, Any] = {}
    try:
        for opcode, arg, _pos in pickletools.genops(stream):
            name = opcode.name
            if name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                names.append(_python3_name(module, attr))
            elif name == "STACK_GLOBAL":
                if len(strings) >= 2 and all(isinstance(s, str) for s in strings[-2:]):
                    names.append(_python3_name(strings[-2], strings[-1]))
                else:
                    names.append("an object named on the stack")
            elif isinstance(arg, str) and name.endswith(("UNICODE", "STRING", "UNICODE8")):
                strings.append(arg)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = strings[-1] if strings else None
            elif name == "MEMOIZE":
                memo[len(memo)] = strings[-1] if strings else None
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                strings.append(memo.get(arg))
            elif name not in ("PROTO", "FRAME"):
                strings.append(None)
            if name == "STOP":
                return True
    except Exception:  # noqa: BLE001 - not (or no more) a pickle: what was found stands
        return False
    return False


def _python3_name(module: str, name: str) -> str:
    """``module.name`` as Python 3 knows it (protocol 2 pickles say ``__builtin__.print``)."""
    from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING

    module, name = NAME_MAPPING.get((module, name), (IMPORT_MAPPING.get(module, module), name))
    return f"{module}.{name}"


def _is_storage(name: str) -> bool:
    parts = name.split("/")
    return len(parts) >= 2 and parts[-2] == "data"


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _detail(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:  # torch's long weights-only message: its cause is the useful line
        if line.startswith(("Unsupported operand", "Unsupported global", "Unsupported class")):
            return line[:120]
    return (lines[0][:120] if lines else "") or type(exc).__name__


__all__ = ["MAX_CHECKPOINT_BYTES", "MAX_ENTRIES", "MAX_EXTRACTOR_BYTES",
           "MAX_FEATURE_FILE_BYTES", "MAX_MATCHING_SET_BYTES", "MAX_PICKLE_BYTES",
           "TorchFileError", "check_archive", "first_nonfinite", "torch_load", "unsafe_globals"]
