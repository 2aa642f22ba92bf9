"""The registry of named pretrained models (``assets/models.json``).

:class:`ModelRegistry` holds the entries of a registry file in file order; each
:class:`ModelEntry` gives a model's kind, its files (:class:`ModelFile`: download URL(s),
sha256 and exact size when published, an approximate size for people before downloading,
whether it is an archive to unpack), the file that loads (``main``), its config or vocoder
family, licence and source. Reading a registry touches neither the network nor the cache; the
shipped registry is :meth:`ModelRegistry.shipped_path` (entry points may point elsewhere, see
:meth:`vocoder.models.ModelCache.from_env`).

A model is one file (``filename`` and ``urls`` in the entry, as published HiFi-GAN
checkpoints are) or several (``files``: a generator and its config, hyperparameter or
statistics files, as other toolkits publish them; or an archive, unpacked into the model's
cache folder).
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from .errors import ModelError, ModelNotFoundError, RegistryError

#: Kinds of models the registry knows. A new kind (another extractor backend) is added here
#: and gets a loader in :mod:`synth.loaders`.
KINDS = ("mel_vocoder", "feature_vocoder", "feature_extractor", "acoustic_model")
VOCODER_KINDS = ("mel_vocoder", "feature_vocoder")
#: What an acoustic model's ``config.symbols`` may be (its text input).
ACOUSTIC_SYMBOLS = ("characters", "phonemes")
#: Acoustic-model architectures hifisynth loads (``config.architecture``).
ACOUSTIC_ARCHITECTURES = ("tacotron2",)
#: The newest registry format this code reads (2: multi-file models, archives, families).
REGISTRY_FORMAT = 2
#: Archives a file may be, by how its name ends.
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_URL_SCHEMES = ("https://", "http://", "file://")


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


def kind_label(kind: str, article: bool = False) -> str:
    """``"mel_vocoder"`` -> ``"mel vocoder"`` (with ``article``: ``"a mel vocoder"``,
    ``"an acoustic model"``)."""
    label = kind.replace("_", " ")
    if not article:
        return label
    return ("an " if label[:1] in "aeiou" else "a ") + label


def is_archive_name(filename: str) -> bool:
    """Whether a file name ends like an archive hifisynth unpacks (:data:`ARCHIVE_SUFFIXES`)."""
    return filename.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass(frozen=True)
class ModelFile:
    """One file of a model, as it is downloaded.

    ``sha256``/``size`` are the published checksum and exact byte count (``None`` where none
    is published: the first copy's sha256 is recorded and checked afterwards); a download of
    another size is refused. ``approx_size`` is for people, before a download. ``unpack``:
    the file is an archive (zip or tar) whose files are unpacked into the model's folder.
    """

    filename: str
    urls: tuple[str, ...]
    sha256: str | None = None
    size: int | None = None
    approx_size: int | None = None
    unpack: bool = False

    @property
    def known_size(self) -> int | None:
        """The exact size, else the approximate one, else ``None``."""
        return self.size if self.size is not None else self.approx_size


@dataclass(frozen=True)
class ModelEntry:
    """One registry entry.

    ``files`` are what is downloaded (one for a single-file model); ``main`` names the file
    that loads: one of ``files``, or for an archive a file name pattern (``checkpoint-*.pkl``)
    matched against the files it unpacks. ``config`` is the entry's config as a JSON object:
    given inline in the registry, or read from ``config_file`` (a published ``config.json``
    beside the registry). ``family`` names a vocoder family (:mod:`vocoder.families`) whose
    config files come with the model's own files (then ``config`` may be absent);
    ``mel_preset`` names the mel (:data:`vocoder.mel.MEL_PRESETS`) where those files do not
    say which one. ``sha256_note`` and ``size_note`` say what is known where nothing was
    published.
    """

    name: str
    kind: str
    files: tuple[ModelFile, ...]
    main: str
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
    family: str | None = None
    mel_preset: str | None = None

    @property
    def is_vocoder(self) -> bool:
        return self.kind in VOCODER_KINDS

    @property
    def is_archive(self) -> bool:
        """Some of its files are archives, unpacked into the model's folder."""
        return any(f.unpack for f in self.files)

    @property
    def filename(self) -> str:
        """The file that loads (:attr:`main`)."""
        return self.main

    @property
    def urls(self) -> tuple[str, ...]:
        """Every download URL of every file, in order."""
        return tuple(url for f in self.files for url in f.urls)

    @property
    def sha256(self) -> str | None:
        """The published sha256 of a single-file model (``None`` for several files)."""
        return self.files[0].sha256 if len(self.files) == 1 else None

    @property
    def size(self) -> int | None:
        """Exact bytes to download, when every file's size is published."""
        sizes = [f.size for f in self.files]
        return None if None in sizes else sum(sizes)  # type: ignore[arg-type]

    @property
    def approx_size(self) -> int | None:
        """Bytes to download as far as known (exact or approximate), when known for every file."""
        sizes = [f.known_size for f in self.files]
        return None if None in sizes else sum(sizes)  # type: ignore[arg-type]

    @property
    def size_text(self) -> str:
        """The download size for people: exact (``"5.6 MiB"``), approximate
        (``"~5.6 MiB"``) or ``"?"``."""
        if self.size is not None:
            return format_size(self.size)
        if self.approx_size is not None:
            return "~" + format_size(self.approx_size)
        return "?"

    @property
    def kind_text(self) -> str:
        """The kind for people, with the vocoder family when the entry names one
        (``"mel vocoder (speechbrain)"``)."""
        return kind_label(self.kind) + (f" ({self.family})" if self.family else "")

    def describe(self) -> str:
        """``"name (mel vocoder, ~5.6 MiB)"``: a model as messages name it."""
        return f"{self.name} ({kind_label(self.kind)}, {self.size_text})"

    def main_matches(self, filename: str) -> bool:
        """Whether ``filename`` is the file that loads (:attr:`main`, a name or a pattern)."""
        return fnmatch.fnmatchcase(filename, self.main)

    def hifigan_config(self):
        """The vocoder's config as a :class:`vocoder.config.HiFiGANConfig`.

        Raises:
            ModelError: the entry is not a vocoder, or has no config.
        """
        from vocoder.config import HiFiGANConfig

        if not self.is_vocoder:
            raise ModelError(f"model '{self.name}' is {kind_label(self.kind, True)}, not a "
                             "vocoder; it has no HiFi-GAN config")
        if self.config is None:
            raise ModelError(f"model '{self.name}' has no config in the registry")
        source = str(self.config_file) if self.config_file else f"registry entry '{self.name}'"
        return HiFiGANConfig.from_dict(self.config, source=source)

    def vocoder_source(self) -> tuple[str | None, Any]:
        """``(family, config)`` for :func:`vocoder.checkpoint.load_vocoder`: the family the
        entry names (``None``: detected from the files) and its config: the registry's
        :class:`~vocoder.config.HiFiGANConfig`, else its mel preset, else ``None`` (the
        family's config files, downloaded beside the main file).

        Raises:
            ModelError: the entry is not a vocoder.
        """
        if not self.is_vocoder:
            raise ModelError(f"model '{self.name}' is {kind_label(self.kind, True)}, not a vocoder")
        if self.config is not None:
            return self.family, self.hifigan_config()
        return self.family, self.mel_preset

    def extractor_architecture(self) -> tuple[Any, str, int | None]:
        """``(arch, name, default_layer)`` of a feature extractor, for
        :func:`synth.features.load_extractor`: a torchaudio bundle name, or the factory
        arguments with ``model_type``; the layer kNN-VC uses, when the entry records one.

        Raises:
            ModelError: the entry is not a feature extractor.
        """
        self._expect("feature_extractor")
        cfg = dict(self.config or {})
        bundle = cfg.get("torchaudio_bundle")
        arch = bundle or dict(cfg.get("params") or {},
                              model_type=str(cfg.get("model_type", "wav2vec2")).lower())
        return arch, bundle or self.name, cfg.get("knnvc_layer")

    def _expect(self, kind: str) -> None:
        """Raise :class:`ModelError` unless the entry is of ``kind``."""
        if self.kind != kind:
            raise ModelError(f"model '{self.name}' is {kind_label(self.kind, True)}, not "
                             f"{kind_label(kind, True)}")

    def acoustic_config(self) -> tuple[str, str, Any, dict[str, Any]]:
        """``(architecture, symbols, mel, params)`` of an acoustic model: what its text
        input is (``characters`` or ``phonemes``), the mel it makes (a
        :class:`~vocoder.config.AudioConfig`) and the model's arguments (``{}``: read the
        shapes from the file). The registry checked them when it was read.

        Raises:
            ModelError: the entry is not an acoustic model.
        """
        from vocoder.config import AudioConfig

        self._expect("acoustic_model")
        cfg = dict(self.config or {})
        return (str(cfg.get("architecture", ACOUSTIC_ARCHITECTURES[0])), cfg["symbols"],
                AudioConfig.from_dict(cfg["mel"], f"registry entry '{self.name}': mel"),
                dict(cfg.get("params") or {}))


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
    def shipped_path() -> Path:
        """The ``assets/models.json`` shipped with hifisynth."""
        return Path(__file__).resolve().parents[2] / "assets" / "models.json"

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "ModelRegistry":
        """Read a registry file (default: the shipped one, :meth:`shipped_path`)."""
        path = Path(path) if path is not None else cls.shipped_path()
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
        """Parse a registry object ``{"format": 2, "models": [...]}`` (format 1, the same
        without ``files``, is read too).

        Relative ``config`` paths are resolved against ``base_dir`` (the registry's folder).
        """
        if not isinstance(data, Mapping):
            raise RegistryError(f"{source}: expected a JSON object, got {type(data).__name__}")
        fmt = data.get("format", REGISTRY_FORMAT)
        if fmt not in range(1, REGISTRY_FORMAT + 1) or isinstance(fmt, bool):
            raise RegistryError(f"{source}: 'format' {fmt!r} is not supported "
                                f"(this hifisynth reads formats 1 to {REGISTRY_FORMAT})")
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
            raise ModelNotFoundError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        """The message for a name that is not in the registry (close and known names)."""
        close = difflib.get_close_matches(name, self.names(), n=3)  # best first
        close.sort(key=lambda c: -len(os.path.commonprefix([c, name])))  # same start first
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

    def need(key: str, kind: type | tuple[type, ...], optional: bool = False,
             data: Mapping[str, Any] = item, at: str = "") -> Any:
        if key not in data or data[key] is None:
            if optional:
                return None
            raise RegistryError(f"{where}: missing '{at}{key}'")
        value = data[key]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
            names = (kind.__name__ if isinstance(kind, type)
                     else " or ".join(k.__name__ for k in kind))
            raise RegistryError(f"{where}: '{at}{key}' must be {names}, got {value!r}")
        return value

    def bad(key: str, msg: str) -> RegistryError:
        return RegistryError(f"{where}: '{key}' {msg}")

    name = need("name", str)
    if not _NAME_RE.match(name):
        raise bad("name", f"must be lower-case letters, digits, '.', '_' or '-', got {name!r}")
    kind = need("kind", str)
    if kind not in KINDS:
        raise bad("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    if "files" in item:
        if "filename" in item or "urls" in item:
            raise bad("files", "and 'filename'/'urls' exclude each other: give one or the other")
        listed = need("files", list)
        if not listed:
            raise bad("files", "must list at least one file")
        files = tuple(_parse_file(f, f"files[{i}].", need, bad) for i, f in enumerate(listed))
    else:
        files = (_parse_file(item, "", need, bad),)
    names = [f.filename for f in files]
    if len(set(names)) != len(names):
        raise bad("files", f"name a file twice: {names}")
    main = need("main", str, optional=True) or names[0]
    if not main or "/" in main or "\\" in main or main.startswith("."):
        raise bad("main", f"must be a plain file name or pattern, got {main!r}")
    if not any(f.unpack for f in files) and main not in names:
        raise bad("main", f"must be one of the files {names}, got {main!r}")
    sha256_note = need("sha256_note", str, optional=True) or ""
    size_note = need("size_note", str, optional=True) or ""
    requires = need("requires", list, optional=True) or []
    if not all(isinstance(r, str) for r in requires):
        raise bad("requires", f"must be a list of model names, got {requires!r}")
    family = need("family", str, optional=True)
    if family is not None and not _NAME_RE.match(family):
        raise bad("family", f"must be a family name (speechbrain, espnet...), got {family!r}")
    mel_preset = need("mel_preset", str, optional=True)

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
    if kind in VOCODER_KINDS and config is None and family is None:
        raise bad("config", "is required for vocoders (the published config.json), unless "
                            "'family' names a vocoder family whose files carry it")
    if kind == "acoustic_model":
        _check_acoustic_config(config, bad)

    return ModelEntry(
        name=name, kind=kind, files=files, main=main,
        licence=need("licence", str), source=need("source", str),
        description=need("description", str, optional=True) or "",
        format=need("format", str, optional=True) or "",
        config=config, config_file=config_file,
        licence_url=need("licence_url", str, optional=True) or "",
        requires=tuple(requires), sha256_note=sha256_note, size_note=size_note,
        notes=need("notes", str, optional=True) or "", family=family, mel_preset=mel_preset,
    )


def _check_acoustic_config(config: Mapping[str, Any] | None, bad: Any) -> None:
    """An acoustic model's config: ``symbols`` (characters or phonemes), ``mel`` (the
    :class:`~vocoder.config.AudioConfig` keys of the mel it makes, in their bounds), optional
    ``architecture`` (:data:`ACOUSTIC_ARCHITECTURES`) and ``params`` (an object of the model's
    arguments)."""
    from vocoder.config import AudioConfig, ConfigError

    if config is None:
        raise bad("config", "is required for acoustic models: 'symbols' (characters or "
                            "phonemes) and 'mel' (the mel settings it makes)")
    architecture = config.get("architecture", ACOUSTIC_ARCHITECTURES[0])
    if architecture not in ACOUSTIC_ARCHITECTURES:
        raise bad("config.architecture",
                  f"must be one of {', '.join(ACOUSTIC_ARCHITECTURES)}, got {architecture!r}")
    symbols = config.get("symbols")
    if symbols not in ACOUSTIC_SYMBOLS:
        raise bad("config.symbols", f"must be one of {', '.join(ACOUSTIC_SYMBOLS)}, got "
                                    f"{symbols!r}")
    mel = config.get("mel")
    if not isinstance(mel, Mapping):
        raise bad("config.mel", f"must be an object of mel settings (sampling_rate, n_fft, "
                                f"hop_size, win_size, num_mels, fmin, fmax), got {mel!r}")
    known = list(AudioConfig.__dataclass_fields__)
    unknown = sorted(set(mel) - set(known))
    if unknown:
        raise bad("config.mel", f"has unknown key {unknown[0]!r} (known: {', '.join(known)})")
    try:
        AudioConfig.from_dict(mel, "mel")
    except ConfigError as exc:
        raise bad("config.mel", f"is not valid: {exc}") from None
    params = config.get("params")
    if params is not None and not isinstance(params, Mapping):
        raise bad("config.params", f"must be an object of the model's arguments, got {params!r}")


def _parse_file(data: Any, at: str, need: Any, bad: Any) -> ModelFile:
    """One file's ``filename``, ``urls``, ``sha256``, ``size``, ``approx_size`` and
    ``unpack`` (keys prefixed with ``at`` in messages)."""
    if not isinstance(data, Mapping):
        raise bad(at.rstrip("."), f"must be a JSON object, got {data!r}")
    filename = need("filename", str, data=data, at=at)
    if not filename or Path(filename).name != filename or filename.startswith("."):
        raise bad(f"{at}filename", f"must be a plain file name, got {filename!r}")
    urls = need("urls", list, data=data, at=at)
    if not urls:
        raise bad(f"{at}urls", "must list at least one URL")
    for url in urls:
        if not isinstance(url, str) or not url.startswith(_URL_SCHEMES):
            raise bad(f"{at}urls", f"entries must be http(s):// or file:// URLs, got {url!r}")
    sha256 = need("sha256", str, optional=True, data=data, at=at)
    if sha256 is not None:
        sha256 = sha256.lower()
        if not _SHA256_RE.match(sha256):
            raise bad(f"{at}sha256", f"must be 64 hex digits or null, got {data['sha256']!r}")
    size = need("size", int, optional=True, data=data, at=at)
    if size is not None and size <= 0:
        raise bad(f"{at}size", f"must be a positive number of bytes or null, got {size}")
    approx_size = need("approx_size", int, optional=True, data=data, at=at)
    if approx_size is not None and approx_size <= 0:
        raise bad(f"{at}approx_size", f"must be a positive number of bytes or null, got "
                                      f"{approx_size}")
    unpack = bool(need("unpack", bool, optional=True, data=data, at=at))
    if unpack and not is_archive_name(filename):
        raise bad(f"{at}unpack", f"is true but {filename!r} does not end like an archive "
                                 f"({', '.join(ARCHIVE_SUFFIXES)})")
    return ModelFile(filename=filename, urls=tuple(urls), sha256=sha256, size=size,
                     approx_size=approx_size, unpack=unpack)


__all__ = ["ACOUSTIC_ARCHITECTURES", "ACOUSTIC_SYMBOLS", "ARCHIVE_SUFFIXES", "KINDS",
           "ModelEntry", "ModelFile", "ModelRegistry", "REGISTRY_FORMAT", "VOCODER_KINDS",
           "format_size", "is_archive_name", "kind_label"]
