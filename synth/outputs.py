"""A folder of results served to the web app's users: WAV and PNG files, each in a folder of
its own, removed after a while. Written atomically (:mod:`vocoder.atomic`): a full disk is one
:class:`vocoder.atomic.OutputError` naming the file, which the app shows as it is."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from vocoder.atomic import atomic_open, make_dir
from vocoder.audio import save_wav


class OutputFolder:
    """Results under ``path``: each file in a new ``<uuid>/`` folder (so names never clash),
    folders older than ``ttl`` seconds removed (looked for at most once a minute).

    Args:
        path: the folder (made when the first file is written).
        ttl: seconds a result is kept (the web server serves its own copy after that).
    """

    def __init__(self, path: str | Path, ttl: float = 3600.0) -> None:
        self.path = Path(path)
        self.ttl = ttl
        self._last_sweep = 0.0

    def write_wav(self, audio: np.ndarray, sample_rate: int, stem: str) -> str:
        """Mono float audio ``(samples,)`` as 16-bit PCM ``<stem>.wav``; returns its path."""
        path = self._new(f"{stem}.wav")
        save_wav(path, audio, sample_rate)
        return str(path)

    def write_png(self, image: np.ndarray, stem: str) -> str:
        """An RGB image ``(height, width, 3)`` uint8 as ``<stem>.png`` (fast compression);
        returns its path."""
        from PIL import Image

        path = self._new(f"{stem}.png")
        with atomic_open(path) as handle:
            Image.fromarray(image).save(handle, format="PNG", compress_level=1)
        return str(path)

    def write_arrays(self, arrays: dict[str, np.ndarray], stem: str) -> str:
        """Arrays as ``<stem>.npz`` (numbers only: read back without pickle); returns its
        path."""
        path = self._new(f"{stem}.npz")
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)
        return str(path)

    def owns(self, path: str | Path) -> bool:
        """Whether ``path`` is a file in this folder (a result it wrote)."""
        try:
            resolved = Path(path).resolve()
        except (OSError, ValueError):
            return False
        return resolved.is_relative_to(self.path.resolve()) and resolved.is_file()

    def _new(self, name: str) -> Path:
        self.sweep()
        return make_dir(self.path / uuid.uuid4().hex) / name

    def sweep(self, now: float | None = None) -> None:
        """Remove result folders older than :attr:`ttl`."""
        now = time.time() if now is None else now
        if now - self._last_sweep < 60 or not self.path.is_dir():
            return
        self._last_sweep = now
        for folder in self.path.iterdir():
            try:
                if now - folder.stat().st_mtime > self.ttl:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                pass


__all__ = ["OutputFolder"]
