"""Frame arrays (mels, or SSL features for a feature vocoder): reading ``.npy`` files safely and
checking shapes before they reach a generator.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .errors import InputError, shown


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """Read a ``.npy`` float array without unpickling anything, in native byte order.

    Any float dtype is read: big-endian arrays are converted to the machine's byte order and
    long doubles (``float96``/``float128``) to float64, so the values are what was saved.

    Raises:
        InputError: missing file, not a ``.npy`` file, a pickled (object) array, not floats,
            or fewer bytes than its header declares; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{shown(path)}: file not found")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
            handle.seek(0)
            header = _npy_header(handle) if magic == b"\x93NUMPY" else None
    except OSError as exc:
        raise InputError(f"{shown(path)}: cannot read file ({exc.strerror})") from None
    except ValueError as exc:
        raise InputError(f"{shown(path)}: cannot read .npy file ({_first_line(exc)})") from None
    if header is None:
        raise InputError(f"{shown(path)}: not a .npy file (save the array with numpy.save)")
    shape, dtype, offset = header
    if dtype.hasobject:
        raise InputError(f"{shown(path)}: refused: not a plain .npy array (it holds Python "
                         "objects, which would have to be unpickled)")
    if not np.issubdtype(dtype, np.floating):
        raise InputError(f"{shown(path)}: expected a float array, got dtype {dtype}")
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    present = path.stat().st_size - offset
    if declared > present:
        raise InputError(f"{shown(path)}: truncated .npy file: its header declares shape "
                         f"{tuple(shape)} ({declared:,} bytes) but {max(present, 0):,} bytes "
                         "follow")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file
        raise InputError(f"{shown(path)}: cannot read .npy file ({_first_line(exc)})") from None
    return native_float(arr)


def native_float(arr: np.ndarray) -> np.ndarray:
    """A float array in the machine's byte order, in a dtype torch reads: big-endian
    converted, long double (``float96``/``float128``) made float64; others as they are."""
    if arr.dtype.itemsize > 8 and np.issubdtype(arr.dtype, np.floating):
        return arr.astype(np.float64)
    if not arr.dtype.isnative:
        return arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _npy_header(handle) -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, data offset)`` of an open ``.npy`` file (any format version)."""
    from numpy.lib import format as npy

    version = npy.read_magic(handle)
    if version == (1, 0):
        shape, _fortran, dtype = npy.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, _fortran, dtype = npy.read_array_header_2_0(handle)
    else:  # 3.0 is only written for structured dtypes with non-Latin-1 field names
        raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    return tuple(shape), np.dtype(dtype), handle.tell()


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def check_frames(frames: np.ndarray | Tensor, channels: int, source: str = "input") -> Tensor:
    """Validate ``(channels, T)`` or ``(1, channels, T)`` frames -> float32 ``(1, channels, T)``.

    Raises:
        ValueError: wrong shape (naming the expected one, with a hint when the array looks
            transposed), no frames, or NaN/infinite values.
    """
    x = torch.as_tensor(np.asarray(frames) if not isinstance(frames, Tensor) else frames)
    if x.dim() == 3 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 2 or x.shape[0] != channels:
        hint = (" (it looks transposed: save it as (channels, frames))"
                if x.dim() == 2 and x.shape[1] == channels else "")
        raise InputError(f"{source}: expected an array of shape ({channels}, frames) or "
                         f"(1, {channels}, frames), got {tuple(x.shape)}{hint}")
    if x.shape[1] == 0:
        raise InputError(f"{source}: array has no frames")
    if not torch.isfinite(x).all():
        raise InputError(f"{source}: array contains NaN or infinite values")
    return x.float().unsqueeze(0)
