"""The local cache of the registry's model files, fetched on demand and checked.

Files live under a home directory as ``<home>/models/<name>/<filename>``. A download goes to
``<filename>.part`` (resumed by a later attempt, see :mod:`vocoder.models.download`); the
finished file is checked against its sha256 (and size) and only then renamed into place. When
the registry has no published sha256, the digest of the first copy is recorded beside the file
(``.<filename>.verified.json``) and later uses are checked against it. That stamp also
remembers the file's size and modification time, so a file that has not changed since it was
last hashed is not hashed again on every use; any change (truncation, replacement) triggers a
full re-hash.

Wherever a model name is accepted, a path to a local file works too (:meth:`ModelCache.resolve`).
The constructor reads no environment variables; :meth:`ModelCache.from_env` is for entry
points (``HIFISYNTH_HOME``, ``HIFISYNTH_OFFLINE``, ``HIFISYNTH_REGISTRY``).
"""

from __future__ import annotations

import json
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Mapping, TextIO

from .download import Downloader, ProgressCallback, sha256_file
from .errors import ModelChecksumError, ModelNotFoundError, ModelUnavailableError
from .registry import ModelEntry, ModelRegistry, kind_label

ENV_HOME = "HIFISYNTH_HOME"
ENV_OFFLINE = "HIFISYNTH_OFFLINE"
ENV_REGISTRY = "HIFISYNTH_REGISTRY"

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_MODEL_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors", ".tar")
_TRUE = ("1", "true", "yes", "on")


def default_home(env: Mapping[str, str] | None = None) -> Path:
    """``$HIFISYNTH_HOME``, else ``~/.cache/hifisynth``."""
    env = os.environ if env is None else env
    value = env.get(ENV_HOME)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "hifisynth"


def offline_from_env(env: Mapping[str, str] | None = None) -> bool:
    """True when ``$HIFISYNTH_OFFLINE`` is 1/true/yes/on."""
    env = os.environ if env is None else env
    return env.get(ENV_OFFLINE, "").strip().lower() in _TRUE


def registry_path_from_env(env: Mapping[str, str] | None = None) -> Path:
    """``$HIFISYNTH_REGISTRY`` if set, else the shipped registry."""
    env = os.environ if env is None else env
    if env.get(ENV_REGISTRY):
        return Path(env[ENV_REGISTRY]).expanduser()
    return ModelRegistry.shipped_path()


@dataclass(frozen=True)
class CacheStatus:
    """Where a model's file is and what state it is in.

    ``state``: ``"verified"`` (present and its checksum stamp matches the file),
    ``"cached"`` (present, not yet checked), ``"partial"`` (an interrupted download,
    ``bytes`` of it so far), or ``"missing"``.
    """

    name: str
    path: Path
    state: str
    bytes: int = 0
    sha256: str | None = None

    @property
    def present(self) -> bool:
        """The whole file is here (checked or not)."""
        return self.state in ("verified", "cached")


@dataclass(frozen=True)
class ResolvedModel:
    """A usable model file: ``entry`` is its registry entry, or ``None`` for a local path."""

    path: Path
    entry: ModelEntry | None = None


@dataclass
class ModelCache:
    """Files of the registry's models under ``home``, fetched on demand.

    Args:
        registry: the models known by name.
        home: cache root; files live in ``home/models/<name>/<filename>``.
        offline: never touch the network; a missing file is an error that says how to
            place it by hand.
        auto_download: :meth:`get` and :meth:`resolve` fetch a missing file (``False``: they
            raise :class:`ModelUnavailableError` instead, and only :meth:`download` fetches;
            a server that must not stall a request on a 1 GB download sets this).
        progress: show a tqdm progress bar on ``messages`` while downloading.
        messages: where notes and the progress bar go (default: ``sys.stderr`` at call time).
        on_progress: called as ``on_progress(bytes_done, bytes_total_or_None)`` while
            downloading (e.g. to drive a web UI's progress bar).
        timeout: seconds to wait on a stalled connection.
        retries: attempts per URL when a transfer breaks off part-way (each resumes).
        retry_wait: seconds to wait before the second attempt (doubling after).
    """

    registry: ModelRegistry
    home: Path
    offline: bool = False
    auto_download: bool = True
    progress: bool = True
    messages: TextIO | None = None
    on_progress: ProgressCallback | None = None
    timeout: float = 30.0
    retries: int = 3
    retry_wait: float = 1.0
    chunk_size: int = 1 << 16

    def __post_init__(self) -> None:
        self.home = Path(self.home).expanduser()

    @classmethod
    def from_env(cls, registry: ModelRegistry | None = None,
                 env: Mapping[str, str] | None = None, **kwargs: Any) -> "ModelCache":
        """A cache configured from ``HIFISYNTH_HOME``/``HIFISYNTH_OFFLINE`` (and the registry
        ``HIFISYNTH_REGISTRY`` names, else the shipped one, unless one is given); ``kwargs``
        go to the constructor. For entry points (commands, the app, scripts)."""
        env = os.environ if env is None else env
        if registry is None:
            registry = ModelRegistry.load(registry_path_from_env(env))
        kwargs.setdefault("offline", offline_from_env(env))
        return cls(registry=registry, home=default_home(env), **kwargs)

    def with_progress(self, on_progress: ProgressCallback | None) -> "ModelCache":
        """The same cache (same files and locks) reporting download progress elsewhere."""
        return replace(self, on_progress=on_progress, progress=False)

    # ---- paths and state ---------------------------------------------------------------

    def model_dir(self, name: str) -> Path:
        return self.home / "models" / self.registry.get(name).name

    def cache_path(self, name: str) -> Path:
        """Where the model's file is (or will be) kept; it may not exist yet."""
        entry = self.registry.get(name)
        return self.home / "models" / entry.name / entry.filename

    def _part_path(self, path: Path) -> Path:
        return path.with_name(path.name + ".part")

    def _stamp_path(self, path: Path) -> Path:
        return path.with_name(f".{path.name}.verified.json")

    def status(self, name: str) -> CacheStatus:
        """The model's cache state, without hashing or touching the network."""
        entry = self.registry.get(name)
        path = self.cache_path(name)
        if path.is_file():
            st = path.stat()
            stamp = self._read_stamp(path)
            if self._stamp_matches(stamp, st, entry):
                return CacheStatus(name, path, "verified", st.st_size, stamp["sha256"])
            return CacheStatus(name, path, "cached", st.st_size)
        part = self._part_path(path)
        if part.is_file():
            return CacheStatus(name, path, "partial", part.stat().st_size)
        return CacheStatus(name, path, "missing")

    # ---- main entry points -------------------------------------------------------------

    def resolve(self, name_or_path: str | os.PathLike, download: bool = True) -> Path:
        """Path of a usable model file: a registry name (fetched and checked as needed) or
        the path of an existing local file.

        Raises:
            ModelNotFoundError: neither a known name nor an existing file.
            ModelUnavailableError: a known model that is not cached and cannot be fetched.
        """
        return self.resolve_model(name_or_path, download=download).path

    def resolve_model(self, name_or_path: str | os.PathLike,
                      download: bool = True) -> ResolvedModel:
        """Like :meth:`resolve`, also returning the registry entry (``None`` for a path).

        A registry name wins over a same-named file in the current directory; write
        ``./name`` (anything with a path separator) to mean the file.
        """
        text = os.fspath(name_or_path)
        if not text.strip():
            raise ModelNotFoundError("empty model name: give a registry name or a file path")
        if not is_path_like(name_or_path) and text in self.registry:
            return ResolvedModel(self.get(text, download=download), self.registry.get(text))
        path = Path(text).expanduser()
        if path.is_file():
            return ResolvedModel(path)
        if path.exists():
            raise ModelNotFoundError(f"{path}: is a directory, not a model file")
        if is_path_like(name_or_path):
            raise ModelNotFoundError(f"{path}: model file not found")
        raise ModelNotFoundError(self.registry.unknown_message(text))

    def get(self, name: str, download: bool = True, verify: bool = False) -> Path:
        """Path of the model's checked file, downloading it first if needed and allowed
        (``download`` and :attr:`auto_download`).

        A cached file whose checksum fails is downloaded again (when allowed) or reported.
        ``verify=True`` re-hashes the file even when its stamp says it is unchanged since the
        last check.
        """
        entry = self.registry.get(name)
        path = self.cache_path(name)
        download = download and self.auto_download
        if path.is_file():
            problem = self._check(entry, path, full=verify)
            if problem is None:
                return path
            if self.offline or not download:
                raise ModelChecksumError(
                    f"cached file {path} for model '{name}' is corrupt ({problem}); "
                    f"delete it and {self._how_to_get(entry, path)}",
                    models=[name], kinds=[entry.kind], offline=self.offline, reason="corrupt")
            self._note(f"cached file {path} for model '{name}' is corrupt ({problem}); "
                       "downloading it again")
            return self.download(name)  # re-checks and replaces it under the download lock
        if self.offline:
            raise self._offline_error(entry, path)
        if not download:
            raise ModelUnavailableError(
                f"model '{name}' ({kind_label(entry.kind)}, {entry.size_text}) is not in the "
                f"cache ({path}); {self._how_to_get(entry, path)}",
                models=[name], kinds=[entry.kind])
        return self.download(name)

    def verify(self, name: str) -> Path:
        """Re-hash the cached file and check it; returns its path.

        Raises:
            ModelUnavailableError: not cached.  ModelChecksumError: the check fails.
        """
        return self.get(name, download=False, verify=True)

    def download(self, name: str, force: bool = False) -> Path:
        """Fetch the model's file into the cache (resuming a ``.part`` file) and check it.

        With ``force`` an existing file is fetched again. Returns the cached path.

        Raises:
            ModelUnavailableError: offline, or every URL failed (the message lists each URL's
                error, the cache path and how to place the file by hand).
            ModelChecksumError: the downloaded bytes are not the published ones.
        """
        entry = self.registry.get(name)
        path = self.cache_path(name)
        if self.offline:
            raise self._offline_error(entry, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock(path):
            if path.is_file() and not force:  # another process may have finished it
                if self._check(entry, path, full=False) is None:
                    return path
                self._discard(path)
            if force:
                self._discard(path)
            return self._fetch(entry, path)

    # ---- download ----------------------------------------------------------------------

    def _downloader(self) -> Downloader:
        return Downloader(timeout=self.timeout, retries=self.retries, retry_wait=self.retry_wait,
                          chunk_size=self.chunk_size, progress=self.progress,
                          messages=self.messages, on_progress=self.on_progress)

    def _fetch(self, entry: ModelEntry, path: Path) -> Path:
        part = self._part_path(path)
        downloader = self._downloader()
        failures: list[str] = []
        for url in entry.urls:
            error = downloader.fetch(entry.name, url, part, entry.size)
            if error is not None:
                failures.append(f"{url} ({error})")
                continue
            problem, digest = self._check_bytes(entry, part)
            if problem is not None:
                part.unlink(missing_ok=True)
                raise ModelChecksumError(
                    f"downloaded file for model '{entry.name}' from {url} is not the expected "
                    f"one ({problem}); it was deleted. Try again later, or "
                    f"{self._how_to_get(entry, path)}", models=[entry.name], kinds=[entry.kind],
                    reason="download_failed")
            os.replace(part, path)
            self._write_stamp(path, digest, recorded=entry.sha256 is None, url=url)
            if entry.sha256 is None:
                self._note(f"model '{entry.name}': no published sha256; recorded sha256 "
                           f"{digest} of this download, later uses are checked against it")
            return path
        how = self._how_to_get(entry, path)
        raise ModelUnavailableError(
            f"cannot download model '{entry.name}': {'; '.join(failures)}. "
            f"{how[:1].upper() + how[1:]}", models=[entry.name], kinds=[entry.kind],
            reason="download_failed")

    # ---- checks ------------------------------------------------------------------------

    def _check(self, entry: ModelEntry, path: Path, full: bool) -> str | None:
        """``None`` if the cached file is good (recording its digest), else the problem."""
        st = path.stat()
        if entry.size is not None and st.st_size != entry.size:
            return f"{st.st_size} bytes, expected {entry.size}"
        stamp = self._read_stamp(path)
        if not full and self._stamp_matches(stamp, st, entry):
            return None
        expected = entry.sha256 or (stamp or {}).get("sha256")
        digest = sha256_file(path)
        if expected is not None and digest != expected:
            origin = ("the registry's" if entry.sha256 else
                      f"the one recorded when it was first used ({self._stamp_path(path)})")
            return f"sha256 {digest}, expected {expected}, {origin}"
        recorded = entry.sha256 is None
        self._write_stamp(path, digest, recorded=recorded,
                          url=(stamp or {}).get("url"))
        if recorded and stamp is None:
            self._note(f"model '{entry.name}': no published sha256; recorded sha256 {digest} "
                       f"of {path}, later uses are checked against it")
        return None

    def _check_bytes(self, entry: ModelEntry, path: Path) -> tuple[str | None, str]:
        size = path.stat().st_size
        if entry.size is not None and size != entry.size:
            return f"{size} bytes, expected {entry.size}", ""
        digest = sha256_file(path)
        if entry.sha256 is not None and digest != entry.sha256:
            return f"sha256 {digest}, expected {entry.sha256}", digest
        return None, digest

    def _stamp_matches(self, stamp: dict | None, st: os.stat_result, entry: ModelEntry) -> bool:
        return (stamp is not None and stamp.get("size") == st.st_size
                and stamp.get("mtime_ns") == st.st_mtime_ns
                and (entry.sha256 is None or stamp.get("sha256") == entry.sha256))

    def _read_stamp(self, path: Path) -> dict | None:
        try:
            stamp = json.loads(self._stamp_path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(stamp, dict) or not _SHA256_RE.match(str(stamp.get("sha256", ""))):
            return None
        return stamp

    def _write_stamp(self, path: Path, digest: str, recorded: bool, url: str | None) -> None:
        st = path.stat()
        stamp = {"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                 "sha256_source": "recorded" if recorded else "registry", "url": url,
                 "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        target = self._stamp_path(path)
        tmp = target.with_name(target.name + ".tmp")
        try:
            tmp.write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, target)
        except OSError:  # a read-only cache still works, it just re-hashes next time
            tmp.unlink(missing_ok=True)

    def _discard(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self._stamp_path(path).unlink(missing_ok=True)

    # ---- messages and locking ----------------------------------------------------------

    def _offline_error(self, entry: ModelEntry, path: Path) -> ModelUnavailableError:
        return ModelUnavailableError(
            f"model '{entry.name}' ({kind_label(entry.kind)}, {entry.size_text}) is not in the "
            f"cache and the cache is offline, so it is not downloaded; "
            f"{self._how_to_get(entry, path)}",
            models=[entry.name], kinds=[entry.kind], offline=True)

    def _how_to_get(self, entry: ModelEntry, path: Path) -> str:
        urls = " or ".join(entry.urls)
        return (f"place the file by hand: download {urls} and save it as {path}"
                f" (or pass the path of a local copy instead of the name)")

    def _note(self, message: str) -> None:
        self._downloader().note(message)

    @contextmanager
    def _lock(self, path: Path) -> Iterator[None]:
        """Hold an exclusive lock on ``path``'s download (across threads and processes)."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no cross-process lock
            yield
            return
        lock_path = path.with_name(f".{path.name}.lock")
        with open(lock_path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._note(f"waiting for another download of {path.name} to finish")
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def is_path_like(name_or_path: str | os.PathLike) -> bool:
    """True for what can only be a file (a ``PathLike``, a path separator, ``~``, a model
    file suffix); a bare word may be a registry name."""
    text = os.fspath(name_or_path)
    return (isinstance(name_or_path, os.PathLike) or os.sep in text
            or (os.altsep is not None and os.altsep in text)
            or text.startswith("~") or text.lower().endswith(_MODEL_SUFFIXES))


__all__ = ["CacheStatus", "ENV_HOME", "ENV_OFFLINE", "ENV_REGISTRY", "ModelCache",
           "ResolvedModel", "default_home", "is_path_like", "offline_from_env",
           "registry_path_from_env"]
