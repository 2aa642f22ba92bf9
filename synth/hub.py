"""``ModelHub``: a model spec in, a ready component out, once.

A :class:`ModelSpec` names a component: its kind (``"mel_vocoder"``, ``"feature_vocoder"``,
``"feature_extractor"``, ``"acoustic_model"``, ``"base_voice"``...) and its source (a registry
name, a file path, or a reserved word such as ``"griffinlim"``), with the config a file needs.
The hub turns it into a loaded component on the hub's device and dtype::

    hub = ModelHub.from_env(device="cuda")                    # HIFISYNTH_HOME etc.
    voc = hub.load(ModelSpec("mel_vocoder", "hifigan-v3-ljspeech"))   # .vocoder, .frontend
    voc is hub.load(ModelSpec("mel_vocoder", "hifigan-v3-ljspeech"))   # True: loaded once

How it behaves:

- **Once**: each spec is loaded at most once while it is held. Two threads asking for the
  same spec at the same moment get the same object (one loads, the other waits); different
  specs load concurrently. A load that fails is not remembered: the next request tries again.
- **Bounded**: with ``max_bytes``, the parameters and buffers of the held components
  (:func:`component_bytes`) stay under that many bytes: when a new component would pass it,
  the least recently used ones are released (a request that still uses one keeps it alive
  until it finishes). Components put in with :meth:`ModelHub.add` are never released.
- **Kinds are plug-ins**: a kind is a loader, ``loader(hub, spec) -> component``, in
  :mod:`synth.loaders` or given with :meth:`ModelHub.register`; the hub's core knows none of
  them. Loaders read files through the hub's :class:`~synth.models.ModelCache` (registry
  names are fetched and checked there) and check a registry model's kind before anything is
  downloaded (:meth:`ModelHub.resolve`).

The constructor reads no environment variables and changes no process-wide setting;
:meth:`ModelHub.from_env` is for entry points.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn

from vocoder.inference import pick_device, pick_dtype

from .models import (ModelCache, ModelEntry, ModelKindError, ModelRegistry,
                     ModelUnavailableError, ResolvedModel, default_home, is_path_like,
                     kind_label)


@dataclass(frozen=True)
class ModelSpec:
    """What to load: a component of ``kind`` from ``source``.

    Attributes:
        kind: which loader builds it (see :mod:`synth.loaders`).
        source: a registry name, a file path, or a word the kind reserves (``"griffinlim"``
            for a mel vocoder, an espeak-ng voice name for ``base_voice``).
        config: what a file needs besides itself: a vocoder's ``config.json`` or preset, a
            feature extractor's architecture; ``None``: the registry's, or ``config.json``
            beside the file.
        options: other settings that make a different component, as ``(name, value)`` pairs
            (``(("n_iter", 32),)`` for Griffin-Lim); use :meth:`make` to pass keywords.
    """

    kind: str
    source: str
    config: str | None = None
    options: tuple[tuple[str, Hashable], ...] = ()

    @classmethod
    def make(cls, kind: str, source: str | os.PathLike, config: str | os.PathLike | None = None,
             **options: Hashable) -> "ModelSpec":
        """A spec from paths or strings and keyword options (sorted, so equal settings give
        equal specs)."""
        return cls(kind, os.fspath(source), None if config is None else os.fspath(config),
                   tuple(sorted(options.items())))

    def option(self, name: str, default: Any = None) -> Any:
        return dict(self.options).get(name, default)

    @property
    def label(self) -> str:
        """How messages name it: a registry name as it is, a path by its file name."""
        return os.path.basename(self.source) if is_path_like(self.source) else self.source


Loader = Callable[["ModelHub", ModelSpec], Any]


@dataclass(frozen=True)
class HeldModel:
    """A component the hub holds: its spec, size in bytes and whether it can be released."""

    spec: ModelSpec
    nbytes: int
    pinned: bool


class ModelHub:
    """Loads model specs into components, once each, thread-safe, memory-bounded.

    Args:
        cache: where registry models are found and fetched (its ``auto_download`` and
            ``offline`` settings decide whether a missing file is downloaded). Default: the
            shipped registry and ``~/.cache/hifisynth``, online; environment variables are
            read only by :meth:`from_env`.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N``.
        dtype: ``float32``, ``bfloat16`` or ``float16`` (GPU only): the vocoders' dtype
            (feature extractors stay float32).
        max_bytes: most bytes of parameters and buffers held at once (``None``: no bound).
        loaders: kinds in addition to (or replacing) :data:`synth.loaders.LOADERS`.
    """

    def __init__(self, cache: ModelCache | None = None, *, device: str | torch.device = "auto",
                 dtype: str | torch.dtype = "float32", max_bytes: int | None = None,
                 loaders: Mapping[str, Loader] | None = None) -> None:
        from .loaders import LOADERS

        if max_bytes is not None and max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive or None, got {max_bytes}")
        self.cache = cache if cache is not None else ModelCache(ModelRegistry.load(),
                                                                default_home({}))
        self.device = pick_device(device) if isinstance(device, str) else torch.device(device)
        self.dtype = pick_dtype(dtype, self.device)
        self.max_bytes = max_bytes
        self._loaders: dict[str, Loader] = {**LOADERS, **(loaders or {})}
        self._lock = threading.Lock()
        self._held: OrderedDict[ModelSpec, tuple[Any, HeldModel]] = OrderedDict()
        self._pending: dict[ModelSpec, Future] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> "ModelHub":
        """A hub over :meth:`ModelCache.from_env` (``HIFISYNTH_HOME``, ``HIFISYNTH_OFFLINE``,
        ``HIFISYNTH_REGISTRY``); ``kwargs`` go to the constructor. For entry points."""
        return cls(ModelCache.from_env(env=env), **kwargs)

    # ------------------------------------------------------------------ kinds

    @property
    def kinds(self) -> list[str]:
        return sorted(self._loaders)

    def register(self, kind: str, loader: Loader) -> None:
        """Teach the hub a new kind (or replace a loader): ``loader(hub, spec)`` returns the
        component, on :attr:`device`."""
        with self._lock:
            self._loaders[kind] = loader

    # ------------------------------------------------------------------ loading

    def load(self, spec: ModelSpec) -> Any:
        """The component for ``spec``, loaded on first use and then held.

        Raises whatever its loader raises (``ModelError`` for models that cannot be found or
        fetched, ``InputError`` for files that do not load); nothing is held then.
        """
        with self._lock:
            held = self._held.get(spec)
            if held is not None:
                self._held.move_to_end(spec)
                return held[0]
            pending = self._pending.get(spec)
            owner = pending is None
            if owner:
                loader = self._loaders.get(spec.kind)
                if loader is None:
                    raise ValueError(f"no loader for model kind {spec.kind!r} (known kinds: "
                                     f"{', '.join(self.kinds)})")
                pending = self._pending[spec] = Future()
        if not owner:
            return pending.result()
        try:
            component = loader(self, spec)
        except BaseException as exc:
            with self._lock:
                del self._pending[spec]
            pending.set_exception(exc)
            raise
        self._hold(spec, component, pinned=False)
        with self._lock:
            del self._pending[spec]
        pending.set_result(component)
        return component

    def add(self, spec: ModelSpec, component: Any) -> Any:
        """Hold a ready component under ``spec`` (never released: the hub could not load it
        again), so that whatever asks for ``spec`` gets it. Returns the component."""
        self._hold(spec, component, pinned=True)
        return component

    def _hold(self, spec: ModelSpec, component: Any, pinned: bool) -> None:
        info = HeldModel(spec, component_bytes(component), pinned)
        with self._lock:
            self._held[spec] = (component, info)
            self._held.move_to_end(spec)
            if self.max_bytes is None:
                return
            total = sum(h.nbytes for _, h in self._held.values())
            for key in list(self._held):
                if total <= self.max_bytes:
                    break
                held = self._held[key][1]
                if key == spec or held.pinned:
                    continue
                del self._held[key]
                total -= held.nbytes

    def release(self, spec: ModelSpec | None = None) -> None:
        """Stop holding ``spec`` (default: everything not added with :meth:`add`)."""
        with self._lock:
            for key in [spec] if spec is not None else list(self._held):
                held = self._held.get(key)
                if held is not None and (spec is not None or not held[1].pinned):
                    del self._held[key]

    def held(self) -> list[HeldModel]:
        """What is held, least recently used first."""
        with self._lock:
            return [info for _, info in self._held.values()]

    def is_held(self, spec: ModelSpec) -> bool:
        with self._lock:
            return spec in self._held

    @property
    def nbytes(self) -> int:
        """Bytes of parameters and buffers held now."""
        return sum(h.nbytes for h in self.held())

    # ------------------------------------------------------------------ files (for loaders)

    def entry(self, spec: ModelSpec) -> ModelEntry | None:
        """The registry entry ``spec.source`` names, or ``None`` (a path, a reserved word,
        a name the registry does not know)."""
        if is_path_like(spec.source) or spec.source not in self.cache.registry:
            return None
        return self.cache.registry.get(spec.source)

    def check_kind(self, spec: ModelSpec, kind: str | None = None) -> None:
        """Refuse a registry model of another kind than ``kind`` (default ``spec.kind``),
        before anything is downloaded.

        Raises:
            ModelKindError: e.g. a feature vocoder asked for as a mel vocoder.
        """
        kind = kind or spec.kind
        entry = self.entry(spec)
        if entry is not None and entry.kind != kind:
            raise ModelKindError(f"model '{entry.name}' is {kind_label(entry.kind, True)}, "
                                 f"not {kind_label(kind, True)}", model=entry.name,
                                 kind=entry.kind, expected=kind)

    def resolve(self, spec: ModelSpec) -> ResolvedModel:
        """The file of ``spec`` (kind checked, fetched into the cache if it may be) and its
        registry entry (``None`` for a path)."""
        self.check_kind(spec)
        return self.cache.resolve_model(spec.source)

    def fetch(self, specs: Iterable[ModelSpec]) -> None:
        """Make sure the files of every registry model in ``specs`` are here (downloading
        what the cache may), and say everything that is missing at once.

        Raises:
            ModelKindError: a registry model of the wrong kind (before any download).
            ModelUnavailableError: one or more models could not be had; with several, the
                message names each and how to get it, and ``models`` lists them all.
        """
        specs = [s for s in specs if self.entry(s) is not None and not self.is_held(s)]
        for spec in specs:
            self.check_kind(spec)
        failures: list[ModelUnavailableError] = []
        for spec in specs:
            try:
                self.cache.resolve_model(spec.source)
            except ModelUnavailableError as exc:
                failures.append(exc)
        if len(failures) == 1:
            raise failures[0]
        if failures:
            names = [n for f in failures for n in f.models]
            entries = [self.cache.registry.get(n) for n in names]
            summary = (f"{len(failures)} models are missing: "
                       + ", ".join(e.describe() for e in entries))
            raise ModelUnavailableError(
                summary + ". " + " ".join(f"({i + 1}) {f}" for i, f in enumerate(failures)),
                summary=summary,
                models=names, kinds=[e.kind for e in entries],
                offline=any(f.offline for f in failures),
                reason=("missing" if all(f.reason == "missing" for f in failures)
                        else "download_failed"))

    def missing(self, specs: Sequence[ModelSpec]) -> list[ModelEntry]:
        """The registry models among ``specs`` whose files are not in the cache (nothing is
        fetched or hashed)."""
        out = []
        for spec in specs:
            entry = self.entry(spec)
            if entry is not None and not self.is_held(spec) \
                    and not self.cache.status(entry.name).present:
                out.append(entry)
        return out


def component_bytes(component: Any) -> int:
    """Bytes of the parameters and buffers of a component: an ``nn.Module``, a tensor, or an
    object holding them as attributes, directly or a few objects down (a
    :class:`~vocoder.families.LoadedVocoder`'s vocoder's generator and its frontend,
    Griffin-Lim's filterbank); shared storage is counted once."""
    seen: set[tuple[int, str]] = set()
    visited: set[int] = set()
    total = 0

    def count(t: Tensor) -> None:
        nonlocal total
        key = (t.untyped_storage().data_ptr(), str(t.device))
        if key not in seen:
            seen.add(key)
            total += t.untyped_storage().nbytes()

    def visit(obj: Any, depth: int) -> None:
        if id(obj) in visited:
            return
        visited.add(id(obj))
        if isinstance(obj, nn.Module):
            for t in (*obj.parameters(), *obj.buffers()):
                count(t)
        elif isinstance(obj, Tensor):
            count(obj)
        elif depth > 0 and isinstance(obj, Mapping):
            for value in obj.values():
                visit(value, depth - 1)
        elif depth > 0 and hasattr(obj, "__dict__") and not isinstance(obj, type):
            for value in vars(obj).values():
                visit(value, depth - 1)

    visit(component, 3)
    return total


__all__ = ["HeldModel", "Loader", "ModelHub", "ModelSpec", "component_bytes"]
