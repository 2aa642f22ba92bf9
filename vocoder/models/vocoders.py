"""A vocoder by registry name or file: the registry's family and config, then the family's
loader (:func:`vocoder.checkpoint.load_vocoder`), with the mel it expects.

The ``vocoder`` command and :class:`synth.hub.ModelHub` both load vocoders this way, so a name
means the same vocoder, with the same mel, everywhere.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .cache import ModelCache, ResolvedModel

if TYPE_CHECKING:
    from ..families.loaded import LoadedVocoder


def load_resolved_vocoder(resolved: ResolvedModel, family: str | None = None,
                          config: Any = None, *, device: str = "cpu",
                          dtype: str = "float32") -> "LoadedVocoder":
    """Load a resolved model file as a vocoder of any family.

    Args:
        resolved: a file from :meth:`ModelCache.resolve_model` (registry entry or ``None``).
        family, config: as :func:`vocoder.checkpoint.load_vocoder` takes them; when not given,
            a registry entry's (:meth:`ModelEntry.vocoder_source`), else detected from the
            files beside the checkpoint.
        device, dtype: where and in which dtype it runs.

    Raises:
        ModelError: a registry model that is not a vocoder.  CheckpointError, ConfigError:
            files that do not load.
    """
    from ..checkpoint import load_vocoder

    if resolved.entry is not None:
        entry_family, entry_config = resolved.entry.vocoder_source()
        family = family or entry_family
        config = entry_config if config is None else config
    return load_vocoder(resolved.path, family, config, device=device, dtype=dtype)


def load_named_vocoder(cache: ModelCache, name_or_path: str | os.PathLike,
                       family: str | None = None, config: Any = None, *,
                       device: str = "cpu", dtype: str = "float32") -> "LoadedVocoder":
    """:func:`load_resolved_vocoder` of a registry name (fetched and checked by ``cache`` as
    it allows) or a file path."""
    return load_resolved_vocoder(cache.resolve_model(name_or_path), family, config,
                                 device=device, dtype=dtype)


__all__ = ["load_named_vocoder", "load_resolved_vocoder"]
