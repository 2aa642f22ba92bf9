"""The local cache of the registry's model files, fetched on demand and checked.

Files live under a home directory as ``<home>/models/<name>/<filename>``; a model of several
files (a generator and its config, hyperparameter or statistics files) keeps them side by
side there, as its toolkit expects them. A download goes to ``<filename>.part`` (resumed by a
later attempt, see :mod:`vocoder.models.download`); the finished file is checked against its
sha256 (and size) and only then renamed into place. When the registry has no published sha256,
the digest of the first copy is recorded beside the file (``.<filename>.verified.json``) and
later uses are checked against it. That stamp also remembers the file's size and modification
time, so a file that has not changed since it was last hashed is not hashed again on every
use; any change (truncation, replacement) triggers a full re-hash.

An archive (zip, tar.gz...) is checked the same way once downloaded, then its files are
unpacked side by side into the model's folder (:func:`vocoder.models.archives.unpack`: no
absolute paths, no ``..``, no links, at most :data:`UNPACK_RATIO` times the archive's size
or :data:`UNPACK_MIN`)
and the archive is deleted; ``.<archive>.unpacked.json`` records the archive's sha256 and each
unpacked file's sha256, size and modification time, and later uses are checked against it
like a stamp. An archive placed in the folder by hand is checked and unpacked on first use.

Wherever a model name is accepted, a path to a local file works too (:meth:`ModelCache.resolve`).
The constructor reads no environment variables; :meth:`ModelCache.from_env` is for entry
points (``HIFISYNTH_HOME``, ``HIFISYNTH_OFFLINE``, ``HIFISYNTH_REGISTRY``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Mapping, TextIO

from .archives import ArchiveError, archive_kind, unpack
from .download import Downloader, ProgressCallback, sha256_file
from .errors import ModelChecksumError, ModelError, ModelNotFoundError, ModelUnavailableError
from .registry import ModelEntry, ModelFile, ModelRegistry, kind_label

ENV_HOME = "HIFISYNTH_HOME"
ENV_OFFLINE = "HIFISYNTH_OFFLINE"
ENV_REGISTRY = "HIFISYNTH_REGISTRY"

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_MODEL_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors", ".tar")
_TRUE = ("1", "true", "yes", "on")
#: An archive may unpack to at most this many times its own size (checkpoints barely
#: compress; a decompression bomb is refused), and at least :data:`UNPACK_MIN` bytes.
UNPACK_RATIO = 8
UNPACK_MIN = 64 << 20


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

    ``state``: ``"verified"`` (every file present and its checksum stamp matches it),
    ``"cached"`` (present, not yet checked), ``"partial"`` (an interrupted download, or only
    some of a model's files; ``bytes`` of it so far), or ``"missing"``. ``path`` is the file
    that loads (:meth:`ModelCache.cache_path`); ``bytes`` counts every file here (unpacked
    files for an archive); ``sha256`` is given for a verified single-file model.
    """

    name: str
    path: Path
    state: str
    bytes: int = 0
    sha256: str | None = None

    @property
    def present(self) -> bool:
        """Every file is here (checked or not)."""
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
        """The folder of a model's files."""
        return self.home / "models" / self.registry.get(name).name

    def cache_path(self, name: str) -> Path:
        """Where the model's file that loads is (or will be) kept; it may not exist yet. For
        an archive not yet unpacked whose main file is a pattern, the model's folder."""
        return self._main_path(self.registry.get(name), must_exist=False)

    def file_path(self, name: str, filename: str) -> Path:
        """Where one of the model's downloaded files is kept (an archive: until unpacked)."""
        return self.model_dir(name) / filename

    def _path(self, entry: ModelEntry, file: ModelFile) -> Path:
        return self.home / "models" / entry.name / file.filename

    def _part_path(self, path: Path) -> Path:
        return path.with_name(path.name + ".part")

    def _stamp_path(self, path: Path) -> Path:
        return path.with_name(f".{path.name}.verified.json")

    def _manifest_path(self, path: Path) -> Path:
        return path.with_name(f".{path.name}.unpacked.json")

    def status(self, name: str) -> CacheStatus:
        """The model's cache state, without hashing or touching the network."""
        entry = self.registry.get(name)
        states = [self._file_state(entry, f) for f in entry.files]
        names = {s for s, _ in states}
        here = sum(n for _, n in states)
        if names == {"verified"}:
            state = "verified"
        elif names <= {"verified", "cached"}:
            state = "cached"
        elif names == {"missing"}:
            state = "missing"
        else:
            state = "partial"
        sha = None
        if state == "verified" and len(entry.files) == 1 and not entry.is_archive:
            sha = (self._read_stamp(self._path(entry, entry.files[0])) or {}).get("sha256")
        return CacheStatus(name, self.cache_path(name), state, here, sha)

    def _file_state(self, entry: ModelEntry, file: ModelFile) -> tuple[str, int]:
        """``(state, bytes here)`` of one file, as :class:`CacheStatus` names states."""
        path = self._path(entry, file)
        if file.unpack:
            manifest = self._read_manifest(path)
            if manifest is not None:
                unchanged, size = True, 0
                for member, rec in manifest["files"].items():
                    try:
                        st = (path.parent / member).stat()
                    except OSError:
                        return "partial", size
                    size += st.st_size
                    unchanged &= rec.get("size") == st.st_size \
                        and rec.get("mtime_ns") == st.st_mtime_ns
                return ("verified" if unchanged else "cached"), size
        if path.is_file():
            st = path.stat()
            if not file.unpack and self._stamp_matches(self._read_stamp(path), st, file):
                return "verified", st.st_size
            return "cached", st.st_size
        part = self._part_path(path)
        if part.is_file():
            return "partial", part.stat().st_size
        return "missing", 0

    def _main_path(self, entry: ModelEntry, must_exist: bool = True) -> Path:
        """The file that loads: ``entry.main`` itself, or the one unpacked file matching it."""
        folder = self.home / "models" / entry.name
        if any(f.filename == entry.main for f in entry.files):
            return folder / entry.main
        found = sorted({m for f in entry.files if f.unpack
                        for m in (self._read_manifest(self._path(entry, f)) or {"files": {}})
                        ["files"] if entry.main_matches(m)})
        if len(found) == 1:
            return folder / found[0]
        if not must_exist:
            return folder
        what = (f"several files match '{entry.main}' ({', '.join(found)})" if found
                else f"no file matches '{entry.main}'")
        raise ModelError(f"model '{entry.name}': {what} among the files unpacked in {folder}; "
                         "the registry entry does not describe this archive")

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
        """Path of the model's checked file that loads (its other files beside it),
        downloading what is missing first if allowed (``download`` and
        :attr:`auto_download`).

        A cached file whose checksum fails is downloaded again (when allowed) or reported.
        ``verify=True`` re-hashes the files even when their stamps say they are unchanged
        since the last check.
        """
        entry = self.registry.get(name)
        download = download and self.auto_download
        missing = []
        for file in entry.files:
            path = self._path(entry, file)
            if not self._present(file, path):
                missing.append(file)
                continue
            problem = self._check_file(entry, file, path, full=verify)
            if problem is None:
                continue
            if self.offline or not download:
                raise ModelChecksumError(
                    f"cached file {path} for model '{name}' is corrupt ({problem}); "
                    f"delete it and {self._how_to_get(entry, [file])}",
                    models=[name], kinds=[entry.kind], offline=self.offline, reason="corrupt")
            self._note(f"cached file {path} for model '{name}' is corrupt ({problem}); "
                       "downloading it again")
            self._download_file(entry, file, force=True)
        if missing:
            if self.offline:
                raise self._offline_error(entry, missing)
            if not download:
                where = (self._path(entry, missing[0]) if len(entry.files) == 1
                         else self._path(entry, missing[0]).parent)
                raise ModelUnavailableError(
                    f"model '{name}' ({kind_label(entry.kind)}, {entry.size_text}) is not in the "
                    f"cache ({where}); {self._how_to_get(entry, missing)}",
                    models=[name], kinds=[entry.kind])
            for file in missing:
                self._download_file(entry, file, force=False)
        return self._main_path(entry)

    def verify(self, name: str) -> Path:
        """Re-hash the cached files and check them; returns the path of the file that loads.

        Raises:
            ModelUnavailableError: not cached.  ModelChecksumError: the check fails.
        """
        return self.get(name, download=False, verify=True)

    def download(self, name: str, force: bool = False) -> Path:
        """Fetch the model's files into the cache (resuming ``.part`` files), check them and
        unpack archives.

        With ``force`` existing files are fetched again. Returns the path of the file that
        loads.

        Raises:
            ModelUnavailableError: offline, or every URL of a file failed (the message lists
                each URL's error, the cache path and how to place the file by hand).
            ModelChecksumError: the downloaded bytes are not the published ones.
            ArchiveError: an archive that cannot be unpacked safely.
        """
        entry = self.registry.get(name)
        if self.offline:
            raise self._offline_error(entry, list(entry.files))
        for file in entry.files:
            self._download_file(entry, file, force=force)
        return self._main_path(entry)

    # ---- download ----------------------------------------------------------------------

    def _downloader(self) -> Downloader:
        return Downloader(timeout=self.timeout, retries=self.retries, retry_wait=self.retry_wait,
                          chunk_size=self.chunk_size, progress=self.progress,
                          messages=self.messages, on_progress=self.on_progress)

    def _download_file(self, entry: ModelEntry, file: ModelFile, force: bool) -> None:
        """Fetch (and unpack) one file under its lock, unless another process already has
        (and ``force`` is off)."""
        path = self._path(entry, file)
        if self.offline:
            raise self._offline_error(entry, [file])
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock(path):
            if not force and self._present(file, path):  # another process may have done it
                if self._check_file(entry, file, path, full=False, locked=True) is None:
                    return
            self._discard(path)
            self._fetch(entry, file, path)

    def _fetch(self, entry: ModelEntry, file: ModelFile, path: Path) -> None:
        part = self._part_path(path)
        downloader = self._downloader()
        failures: list[str] = []
        for url in file.urls:
            error = downloader.fetch(entry.name, url, part, file.size)
            if error is not None:
                failures.append(f"{url} ({error})")
                continue
            problem, digest = self._check_bytes(file, part)
            if problem is not None:
                part.unlink(missing_ok=True)
                raise ModelChecksumError(
                    f"downloaded file for model '{entry.name}' from {url} is not the expected "
                    f"one ({problem}); it was deleted. Try again later, or "
                    f"{self._how_to_get(entry, [file])}", models=[entry.name],
                    kinds=[entry.kind], reason="download_failed")
            if file.unpack and archive_kind(part) is None:  # e.g. an HTML page in its place
                part.unlink(missing_ok=True)
                failures.append(f"{url} (not a zip or tar archive)")
                continue
            os.replace(part, path)
            self._write_stamp(path, digest, recorded=file.sha256 is None, url=url)
            if file.sha256 is None:
                self._note(f"model '{entry.name}': no published sha256; recorded sha256 "
                           f"{digest} of this download, later uses are checked against it")
            if file.unpack:
                self._unpack(entry, file, path)
            return
        how = self._how_to_get(entry, [file])
        raise ModelUnavailableError(
            f"cannot download model '{entry.name}': {'; '.join(failures)}. "
            f"{how[:1].upper() + how[1:]}", models=[entry.name], kinds=[entry.kind],
            reason="download_failed")

    def _unpack(self, entry: ModelEntry, file: ModelFile, path: Path) -> None:
        """Unpack a checked archive into the model's folder, record what it held, delete it."""
        stamp = self._read_stamp(path) or {}
        folder = path.parent
        tmp = folder / f".{path.name}.unpacking"
        shutil.rmtree(tmp, ignore_errors=True)
        size = path.stat().st_size
        names = unpack(path, tmp, max_bytes=max(UNPACK_RATIO * size, UNPACK_MIN))
        reserved = {f.filename for f in entry.files}
        clash = [n for n in names if n in reserved or n.endswith((".part", ".lock"))]
        if clash:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ArchiveError(f"{path}: member {clash[0]!r} would replace a file of model "
                               f"'{entry.name}'; refused")
        members = {}
        for name in names:
            os.replace(tmp / name, folder / name)
            st = (folder / name).stat()
            members[name] = {"sha256": sha256_file(folder / name), "size": st.st_size,
                             "mtime_ns": st.st_mtime_ns}
        shutil.rmtree(tmp, ignore_errors=True)
        manifest = {"archive": path.name, "archive_sha256": stamp.get("sha256"),
                    "archive_size": size, "sha256_source": stamp.get("sha256_source"),
                    "url": stamp.get("url"), "files": members,
                    "unpacked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self._write_json(self._manifest_path(path), manifest)
        path.unlink(missing_ok=True)
        self._stamp_path(path).unlink(missing_ok=True)

    # ---- checks ------------------------------------------------------------------------

    def _present(self, file: ModelFile, path: Path) -> bool:
        """The file is here: downloaded (an archive: or unpacked)."""
        return path.is_file() or (file.unpack and self._manifest_path(path).is_file())

    def _check_file(self, entry: ModelEntry, file: ModelFile, path: Path, full: bool,
                    locked: bool = False) -> str | None:
        """``None`` if a present file is good, else the problem. An archive that is here
        (placed by hand, or left by an interrupted run) is checked and then unpacked."""
        if not file.unpack:
            return self._check(entry, file, path, full)
        if path.is_file():
            problem = self._check(entry, file, path, full)
            if problem is not None:
                return problem
            if locked:
                self._unpack(entry, file, path)
            else:
                with self._lock(path):
                    if path.is_file():
                        self._unpack(entry, file, path)
            return None
        return self._check_unpacked(path, full)

    def _check_unpacked(self, path: Path, full: bool) -> str | None:
        """Check an archive's unpacked files against its manifest."""
        manifest = self._read_manifest(path)
        if manifest is None:
            return f"{self._manifest_path(path).name} is unreadable"
        changed = False
        for member, rec in manifest["files"].items():
            target = path.parent / member
            try:
                st = target.stat()
            except OSError:
                return f"{member}, unpacked from {path.name}, is missing"
            if not full and rec.get("size") == st.st_size and rec.get("mtime_ns") == st.st_mtime_ns:
                continue
            digest = sha256_file(target)
            if digest != rec.get("sha256"):
                return (f"{member}, unpacked from {path.name}: sha256 {digest}, expected "
                        f"{rec.get('sha256')}, recorded when it was unpacked")
            rec.update(size=st.st_size, mtime_ns=st.st_mtime_ns)
            changed = True
        if changed:
            self._write_json(self._manifest_path(path), manifest)
        return None

    def _check(self, entry: ModelEntry, file: ModelFile, path: Path, full: bool) -> str | None:
        """``None`` if the cached file is good (recording its digest), else the problem."""
        st = path.stat()
        if file.size is not None and st.st_size != file.size:
            return f"{st.st_size} bytes, expected {file.size}"
        stamp = self._read_stamp(path)
        if not full and self._stamp_matches(stamp, st, file):
            return None
        expected = file.sha256 or (stamp or {}).get("sha256")
        digest = sha256_file(path)
        if expected is not None and digest != expected:
            origin = ("the registry's" if file.sha256 else
                      f"the one recorded when it was first used ({self._stamp_path(path)})")
            return f"sha256 {digest}, expected {expected}, {origin}"
        recorded = file.sha256 is None
        self._write_stamp(path, digest, recorded=recorded,
                          url=(stamp or {}).get("url"))
        if recorded and stamp is None:
            self._note(f"model '{entry.name}': no published sha256; recorded sha256 {digest} "
                       f"of {path}, later uses are checked against it")
        return None

    def _check_bytes(self, file: ModelFile, path: Path) -> tuple[str | None, str]:
        size = path.stat().st_size
        if file.size is not None and size != file.size:
            return f"{size} bytes, expected {file.size}", ""
        digest = sha256_file(path)
        if file.sha256 is not None and digest != file.sha256:
            return f"sha256 {digest}, expected {file.sha256}", digest
        return None, digest

    def _stamp_matches(self, stamp: dict | None, st: os.stat_result, file: ModelFile) -> bool:
        return (stamp is not None and stamp.get("size") == st.st_size
                and stamp.get("mtime_ns") == st.st_mtime_ns
                and (file.sha256 is None or stamp.get("sha256") == file.sha256))

    def _read_stamp(self, path: Path) -> dict | None:
        try:
            stamp = json.loads(self._stamp_path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(stamp, dict) or not _SHA256_RE.match(str(stamp.get("sha256", ""))):
            return None
        return stamp

    def _read_manifest(self, path: Path) -> dict | None:
        """The record of an unpacked archive, or ``None`` (none, or unreadable)."""
        try:
            manifest = json.loads(self._manifest_path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if not isinstance(files, dict) or not all(
                isinstance(k, str) and Path(k).name == k and not k.startswith(".")
                and isinstance(v, dict) for k, v in files.items()):
            return None
        return manifest

    def _write_stamp(self, path: Path, digest: str, recorded: bool, url: str | None) -> None:
        st = path.stat()
        stamp = {"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                 "sha256_source": "recorded" if recorded else "registry", "url": url,
                 "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self._write_json(self._stamp_path(path), stamp)

    def _write_json(self, target: Path, data: dict) -> None:
        tmp = target.with_name(target.name + ".tmp")
        try:
            tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, target)
        except OSError:  # a read-only cache still works, it just re-hashes next time
            tmp.unlink(missing_ok=True)

    def _discard(self, path: Path) -> None:
        """Delete a file and its stamp; for an archive, also what it unpacked."""
        manifest = self._read_manifest(path)
        for member in (manifest or {}).get("files", {}):
            (path.parent / member).unlink(missing_ok=True)
        self._manifest_path(path).unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        self._stamp_path(path).unlink(missing_ok=True)

    # ---- messages and locking ----------------------------------------------------------

    def _offline_error(self, entry: ModelEntry, files: list[ModelFile]) -> ModelUnavailableError:
        return ModelUnavailableError(
            f"model '{entry.name}' ({kind_label(entry.kind)}, {entry.size_text}) is not in the "
            f"cache and the cache is offline, so it is not downloaded; "
            f"{self._how_to_get(entry, files)}",
            models=[entry.name], kinds=[entry.kind], offline=True)

    def _how_to_get(self, entry: ModelEntry, files: list[ModelFile]) -> str:
        """How to place ``files`` of ``entry`` by hand (one sentence, no command names)."""
        if len(entry.files) == 1 and not entry.is_archive:
            urls = " or ".join(entry.files[0].urls)
            return (f"place the file by hand: download {urls} and save it as "
                    f"{self._path(entry, entry.files[0])} (or pass the path of a local copy "
                    "instead of the name)")
        steps = "; ".join(
            f"download {' or '.join(f.urls)} and save it as {self._path(entry, f)}"
            + (" (it is unpacked there on first use)" if f.unpack else "") for f in files)
        return (f"place the file{'s' if len(files) > 1 else ''} by hand: {steps} (or pass the "
                f"path of a local copy of {entry.main} instead of the name, with the model's "
                "other files beside it)")

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
           "ResolvedModel", "UNPACK_MIN", "UNPACK_RATIO", "default_home", "is_path_like",
           "offline_from_env", "registry_path_from_env"]
