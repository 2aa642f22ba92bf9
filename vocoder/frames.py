"""Frame arrays (mels, or SSL features for a feature vocoder): reading ``.npy`` files safely and
checking shapes before they reach a generator.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .errors import InputError


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """Read a ``.npy`` float array without unpickling anything.

    Raises:
        ValueError: missing file, not a ``.npy`` file, a pickled (object) array, or not floats;
            the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
    except OSError as exc:
        raise InputError(f"{path}: cannot read file ({exc.strerror})") from None
    if magic != b"\x93NUMPY":
        raise InputError(f"{path}: not a .npy file (save the array with numpy.save)")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise InputError(f"{path}: refused: not a plain .npy array (it holds Python "
                             "objects, which would have to be unpickled)") from None
        raise InputError(f"{path}: cannot read .npy file ({str(exc).splitlines()[0]})") from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file
        raise InputError(f"{path}: cannot read .npy file ({str(exc).splitlines()[0]})") from None
    if not isinstance(arr, np.ndarray) or not np.issubdtype(arr.dtype, np.floating):
        raise InputError(f"{path}: expected a float array, got dtype {getattr(arr, 'dtype', '?')}")
    return arr


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
