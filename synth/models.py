"""Named pretrained models: the registry, the local cache and resumable, checksummed downloads.

Two objects, no module-level state:

- :class:`ModelRegistry` - the entries of a registry file (``assets/models.json``): for each
  model its kind, download URL(s), sha256, size, config, licence and source.
- :class:`ModelCache` - files of those models under a home directory
  (``$HIFISYNTH_HOME``, default ``~/.cache/hifisynth``), laid out as
  ``<home>/models/<name>/<filename>``.

Downloads use only the standard library (``urllib``): the bytes go to ``<filename>.part``, which a
later attempt resumes with an HTTP ``Range`` request; the finished file is checked against its
sha256 (and size) and only then renamed into place. When the registry has no published sha256,
the digest of the first copy is recorded beside the file (``.<filename>.verified.json``) and later
uses are checked against it. That stamp also remembers the file's size and modification time, so
a file that has not changed since it was last hashed is not hashed again on every use; any change
(truncation, replacement) triggers a full re-hash. ``offline=True`` (``HIFISYNTH_OFFLINE=1``) never
touches the network.

Wherever a model name is accepted, a path to a local file works too (:meth:`ModelCache.resolve`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
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
from typing import Any, Callable, Iterator, Mapping, Sequence, TextIO

from synth import __version__
from vocoder.errors import HifisynthError

KINDS = ("mel_vocoder", "feature_vocoder", "feature_extractor")
VOCODER_KINDS = ("mel_vocoder", "feature_vocoder")
REGISTRY_FORMAT = 1
ENV_HOME = "HIFISYNTH_HOME"
ENV_OFFLINE = "HIFISYNTH_OFFLINE"
ENV_REGISTRY = "HIFISYNTH_REGISTRY"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_URL_SCHEMES = ("https://", "http://", "file://")
_MODEL_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors", ".tar")
_TRUE = ("1", "true", "yes", "on")

ProgressCallback = Callable[[int, "int | None"], None]


class ModelError(HifisynthError):
    """A model that cannot be used; the message says which and what to do. ``exit_code`` is
    what the ``synth`` command exits with."""

    exit_code = 2


class RegistryError(ModelError):
    """A registry file that cannot be used; the message names the file, the entry and the key."""


class ModelNotFoundError(ModelError):
    """Neither a registry name nor an existing file."""


class ModelUnavailableError(ModelError):
    """A known model whose file is not here and could not be fetched (offline, network error)."""

    exit_code = 1


class ModelChecksumError(ModelUnavailableError):
    """A file whose sha256 or size is not the expected one."""


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelEntry:
    """One registry entry.

    ``config`` is the entry's config as a JSON object: given inline in the registry, or read
    from ``config_file`` (a published ``config.json`` beside the registry) for vocoders.
    ``sha256``/``size`` are ``None`` where nothing was published; ``sha256_note`` and
    ``size_note`` then say what is known.
    """

    name: str
    kind: str
    filename: str
    urls: tuple[str, ...]
    sha256: str | None
    size: int | None
    licence: str
    source: str
    description: str = ""
    format: str = ""
    config: Mapping[str, Any] | None = None
    config_file: Path | None = None
    licence_url: str = ""
    requires: tuple[str, ...] = ()
    sha256_note: str = ""
    size_note: str = ""
    notes: str = ""

    @property
    def is_vocoder(self) -> bool:
        return self.kind in VOCODER_KINDS

    def hifigan_config(self):
        """The vocoder's config as a :class:`vocoder.config.HiFiGANConfig`.

        Raises:
            ModelError: the entry is not a vocoder, or has no config.
        """
        from vocoder.config import HiFiGANConfig

        if not self.is_vocoder:
            raise ModelError(f"model '{self.name}' is a {self.kind}, not a vocoder; it has no "
                             "HiFi-GAN config")
        if self.config is None:
            raise ModelError(f"model '{self.name}' has no config in the registry")
        source = str(self.config_file) if self.config_file else f"registry entry '{self.name}'"
        return HiFiGANConfig.from_dict(self.config, source=source)

    def extractor_architecture(self) -> tuple[Any, str, int | None]:
        """``(arch, name, default_layer)`` of a feature extractor, for
        :func:`synth.features.load_extractor`: a torchaudio bundle name, or the factory
        arguments with ``model_type``; the layer kNN-VC uses, when the entry records one.

        Raises:
            ModelError: the entry is not a feature extractor.
        """
        if self.kind != "feature_extractor":
            raise ModelError(f"model '{self.name}' is a {self.kind.replace('_', ' ')}, not a "
                             "feature extractor")
        cfg = dict(self.config or {})
        bundle = cfg.get("torchaudio_bundle")
        arch = bundle or dict(cfg.get("params") or {},
                              model_type=str(cfg.get("model_type", "wav2vec2")).lower())
        return arch, bundle or self.name, cfg.get("knnvc_layer")


class ModelRegistry:
    """The pretrained models known by name, in registry-file order."""

    def __init__(self, entries: Sequence[ModelEntry], source: str = "registry") -> None:
        self.source = source
        self._entries: dict[str, ModelEntry] = {}
        for entry in entries:
            if entry.name in self._entries:
                raise RegistryError(f"{source}: model name '{entry.name}' appears twice")
            self._entries[entry.name] = entry
        for entry in entries:
            for dep in entry.requires:
                if dep not in self._entries:
                    raise RegistryError(f"{source}: model '{entry.name}': 'requires' names "
                                        f"unknown model '{dep}'")

    @staticmethod
    def default_path(env: Mapping[str, str] | None = None) -> Path:
        """``$HIFISYNTH_REGISTRY`` if set, else the ``assets/models.json`` shipped with hifisynth."""
        env = os.environ if env is None else env
        if env.get(ENV_REGISTRY):
            return Path(env[ENV_REGISTRY]).expanduser()
        return Path(__file__).resolve().parent.parent / "assets" / "models.json"

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "ModelRegistry":
        """Read a registry file (default: :meth:`default_path`)."""
        path = Path(path) if path is not None else cls.default_path()
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RegistryError(f"{path}: model registry file not found") from None
        except OSError as exc:
            raise RegistryError(f"{path}: cannot read model registry ({exc.strerror})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RegistryError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_dict(data, source=str(path), base_dir=path.parent)

    @classmethod
    def from_dict(cls, data: Any, source: str = "registry",
                  base_dir: str | os.PathLike | None = None) -> "ModelRegistry":
        """Parse a registry object ``{"format": 1, "models": [...]}``.

        Relative ``config`` paths are resolved against ``base_dir`` (the registry's folder).
        """
        if not isinstance(data, Mapping):
            raise RegistryError(f"{source}: expected a JSON object, got {type(data).__name__}")
        fmt = data.get("format", REGISTRY_FORMAT)
        if fmt != REGISTRY_FORMAT:
            raise RegistryError(f"{source}: 'format' {fmt!r} is not supported "
                                f"(this hifisynth reads format {REGISTRY_FORMAT})")
        models = data.get("models")
        if not isinstance(models, list):
            raise RegistryError(f"{source}: 'models' must be a list of entries")
        base = Path(base_dir) if base_dir is not None else None
        return cls([_parse_entry(item, i, source, base) for i, item in enumerate(models)],
                   source=source)

    def names(self) -> list[str]:
        return list(self._entries)

    def get(self, name: str) -> ModelEntry:
        """The entry called ``name``.

        Raises:
            ModelNotFoundError: unknown name (the message lists close and known names).
        """
        try:
            return self._entries[name]
        except KeyError:
            raise ModelNotFoundError(self._unknown_message(name)) from None

    def _unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self.names(), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return (f"unknown model '{name}': {hint}known models are {', '.join(self.names())} "
                "(or give the path of a local file)")

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


def _parse_entry(item: Any, index: int, source: str, base: Path | None) -> ModelEntry:
    where = f"{source}: models[{index}]"
    if not isinstance(item, Mapping):
        raise RegistryError(f"{where}: expected a JSON object, got {type(item).__name__}")
    name = item.get("name")
    if isinstance(name, str):
        where = f"{source}: model '{name}'"

    def need(key: str, kind: type | tuple[type, ...], optional: bool = False) -> Any:
        if key not in item or item[key] is None:
            if optional:
                return None
            raise RegistryError(f"{where}: missing '{key}'")
        value = item[key]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
            names = (kind.__name__ if isinstance(kind, type)
                     else " or ".join(k.__name__ for k in kind))
            raise RegistryError(f"{where}: '{key}' must be {names}, got {value!r}")
        return value

    def bad(key: str, msg: str) -> RegistryError:
        return RegistryError(f"{where}: '{key}' {msg}")

    name = need("name", str)
    if not _NAME_RE.match(name):
        raise bad("name", f"must be lower-case letters, digits, '.', '_' or '-', got {name!r}")
    kind = need("kind", str)
    if kind not in KINDS:
        raise bad("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    filename = need("filename", str)
    if not filename or Path(filename).name != filename or filename.startswith("."):
        raise bad("filename", f"must be a plain file name, got {filename!r}")
    urls = need("urls", list)
    if not urls:
        raise bad("urls", "must list at least one URL")
    for url in urls:
        if not isinstance(url, str) or not url.startswith(_URL_SCHEMES):
            raise bad("urls", f"entries must be http(s):// or file:// URLs, got {url!r}")
    sha256 = need("sha256", str, optional=True)
    if sha256 is not None:
        sha256 = sha256.lower()
        if not _SHA256_RE.match(sha256):
            raise bad("sha256", f"must be 64 hex digits or null, got {item['sha256']!r}")
    size = need("size", int, optional=True)
    if size is not None and size <= 0:
        raise bad("size", f"must be a positive number of bytes or null, got {size}")
    requires = need("requires", list, optional=True) or []
    if not all(isinstance(r, str) for r in requires):
        raise bad("requires", f"must be a list of model names, got {requires!r}")

    config_value = need("config", (dict, str), optional=True)
    config, config_file = None, None
    if isinstance(config_value, str):
        config_file = Path(config_value)
        if not config_file.is_absolute():
            if base is None:
                raise bad("config", f"is a relative path ({config_value!r}) but the registry "
                                    "has no folder to resolve it against")
            config_file = base / config_file
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise bad("config", f"names {config_file}, which does not exist") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise bad("config", f"names {config_file}, which cannot be read as JSON ({exc})") from None
        if not isinstance(config, dict):
            raise bad("config", f"file {config_file} must hold a JSON object")
    elif isinstance(config_value, dict):
        config = config_value
    if kind in VOCODER_KINDS and config is None:
        raise bad("config", "is required for vocoders (the published config.json)")

    return ModelEntry(
        name=name, kind=kind, filename=filename, urls=tuple(urls), sha256=sha256, size=size,
        licence=need("licence", str), source=need("source", str),
        description=need("description", str, optional=True) or "",
        format=need("format", str, optional=True) or "",
        config=config, config_file=config_file,
        licence_url=need("licence_url", str, optional=True) or "",
        requires=tuple(requires),
        sha256_note=need("sha256_note", str, optional=True) or "",
        size_note=need("size_note", str, optional=True) or "",
        notes=need("notes", str, optional=True) or "",
    )


# --------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------


def default_home(env: Mapping[str, str] | None = None) -> Path:
    """``$HIFISYNTH_HOME``, else ``~/.cache/hifisynth``."""
    env = os.environ if env is None else env
    value = env.get(ENV_HOME)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "hifisynth"


def offline_from_env(env: Mapping[str, str] | None = None) -> bool:
    """True when ``$HIFISYNTH_OFFLINE`` is 1/true/yes/on."""
    env = os.environ if env is None else env
    return env.get(ENV_OFFLINE, "").strip().lower() in _TRUE


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


@dataclass(frozen=True)
class ResolvedModel:
    """A usable model file: ``entry`` is its registry entry, or ``None`` for a local path."""

    path: Path
    entry: ModelEntry | None = None


class _Retry(Exception):
    """A transfer that stopped part-way; the ``.part`` file is kept and resumed."""


class _Fatal(Exception):
    """A URL that will not give the expected file; the next URL (if any) is tried."""


@dataclass
class ModelCache:
    """Files of the registry's models under ``home``, fetched on demand.

    Args:
        registry: the models known by name.
        home: cache root; files live in ``home/models/<name>/<filename>``.
        offline: never touch the network; a missing file is an error that says how to
            place it by hand.
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
        """A cache configured from ``HIFISYNTH_HOME``/``HIFISYNTH_OFFLINE`` (and the default
        registry unless one is given); ``kwargs`` go to the constructor."""
        env = os.environ if env is None else env
        if registry is None:
            registry = ModelRegistry.load(ModelRegistry.default_path(env))
        kwargs.setdefault("offline", offline_from_env(env))
        return cls(registry=registry, home=default_home(env), **kwargs)

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
        path_like = (isinstance(name_or_path, os.PathLike) or os.sep in text
                     or (os.altsep is not None and os.altsep in text)
                     or text.startswith("~") or text.lower().endswith(_MODEL_SUFFIXES))
        if not path_like and text in self.registry:
            return ResolvedModel(self.get(text, download=download), self.registry.get(text))
        path = Path(text).expanduser()
        if path.is_file():
            return ResolvedModel(path)
        if path.exists():
            raise ModelNotFoundError(f"{path}: is a directory, not a model file")
        if path_like:
            raise ModelNotFoundError(f"{path}: model file not found")
        raise ModelNotFoundError(self.registry._unknown_message(text))

    def get(self, name: str, download: bool = True, verify: bool = False) -> Path:
        """Path of the model's checked file, downloading it first if needed and allowed.

        A cached file whose checksum fails is downloaded again (online) or reported
        (offline, or ``download=False``). ``verify=True`` re-hashes the file even when its
        stamp says it is unchanged since the last check.
        """
        entry = self.registry.get(name)
        path = self.cache_path(name)
        if path.is_file():
            problem = self._check(entry, path, full=verify)
            if problem is None:
                return path
            if self.offline or not download:
                raise ModelChecksumError(
                    f"cached file {path} for model '{name}' is corrupt ({problem}); "
                    f"delete it and {self._how_to_get(entry, path)}")
            self._note(f"cached file {path} for model '{name}' is corrupt ({problem}); "
                       "downloading it again")
            return self.download(name)  # re-checks and replaces it under the download lock
        if not download:
            raise ModelUnavailableError(
                f"model '{name}' is not in the cache ({path}); {self._how_to_get(entry, path)}")
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
            raise ModelUnavailableError(
                f"model '{name}' is not in the cache and {ENV_OFFLINE}=1 forbids downloading "
                f"it; {self._how_to_get(entry, path, offline=True)}")
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

    def _fetch(self, entry: ModelEntry, path: Path) -> Path:
        part = self._part_path(path)
        failures: list[str] = []
        for url in entry.urls:
            error = self._fetch_url(entry, url, part)
            if error is not None:
                failures.append(f"{url} ({error})")
                continue
            problem, digest = self._check_bytes(entry, part)
            if problem is not None:
                part.unlink(missing_ok=True)
                raise ModelChecksumError(
                    f"downloaded file for model '{entry.name}' from {url} is not the expected "
                    f"one ({problem}); it was deleted. Try again later, or "
                    f"{self._how_to_get(entry, path, online_hint=False)}")
            os.replace(part, path)
            self._write_stamp(path, digest, recorded=entry.sha256 is None, url=url)
            if entry.sha256 is None:
                self._note(f"model '{entry.name}': no published sha256; recorded sha256 "
                           f"{digest} of this download, later uses are checked against it")
            return path
        raise ModelUnavailableError(
            f"cannot download model '{entry.name}': {'; '.join(failures)}. "
            f"{_sentence(self._how_to_get(entry, path, online_hint=False))}")

    def _fetch_url(self, entry: ModelEntry, url: str, part: Path) -> str | None:
        """Download ``url`` into ``part``; ``None`` on success, else the reason it failed."""
        wait = self.retry_wait
        last = "no attempt made"
        for attempt in range(max(1, self.retries)):
            if attempt:
                time.sleep(wait)
                wait *= 2
            try:
                self._transfer(entry, url, part)
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

    def _transfer(self, entry: ModelEntry, url: str, part: Path) -> None:
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
            if entry.size is not None and total is not None and total != entry.size:
                raise _Fatal(f"server offers {total} bytes, the registry expects {entry.size}")
            if offset:
                self._note(f"resuming download of '{entry.name}' at byte {offset}")
            done = offset
            try:
                out = open(part, mode)
            except OSError as exc:
                raise ModelUnavailableError(f"cannot write {part}: {exc.strerror}") from None
            with out, self._bar(entry, total, offset) as bar:
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
                        raise ModelUnavailableError(
                            f"cannot write {part}: {exc.strerror}") from None
                    done += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
                    if self.on_progress is not None:
                        self.on_progress(done, total)
            if total is not None and done < total:
                raise _Retry(f"connection closed after {done} of {total} bytes")

    @contextmanager
    def _bar(self, entry: ModelEntry, total: int | None, initial: int):
        if not self.progress:
            yield None
            return
        from tqdm import tqdm

        with tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=entry.name, file=self.messages or sys.stderr, leave=True,
                  dynamic_ncols=True) as bar:
            yield bar

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

    def _how_to_get(self, entry: ModelEntry, path: Path, offline: bool = False,
                    online_hint: bool = True) -> str:
        urls = " or ".join(entry.urls)
        text = (f"place the file by hand: download {urls} and save it as {path}"
                f" (or pass the path of a local copy instead of the name)")
        if offline:
            text += f", or unset {ENV_OFFLINE} and run `synth models download {entry.name}`"
        elif online_hint:
            text += f", or run `synth models download {entry.name}`"
        return text

    def _note(self, message: str) -> None:
        print(f"hifisynth: {message}", file=self.messages or sys.stderr, flush=True)

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


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def format_size(size: int | None) -> str:
    """Bytes as a short human string (``"5.6 MiB"``); ``"?"`` for unknown."""
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


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
