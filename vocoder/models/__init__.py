"""Named pretrained models: the registry, the local cache and resumable, checksummed downloads.

- :mod:`~vocoder.models.registry` - :class:`ModelRegistry`, the entries of a registry file
  (``assets/models.json``): kind, files (download URL(s), sha256, size), config or vocoder
  family, licence, source.
- :mod:`~vocoder.models.cache` - :class:`ModelCache`, the files of those models under a home
  directory (``<home>/models/<name>/<filename>``), checked before use.
- :mod:`~vocoder.models.download` - resumable downloads with retries and progress.
- :mod:`~vocoder.models.archives` - unpacking a downloaded archive safely.
- :mod:`~vocoder.models.vocoders` - a vocoder by registry name or file, with its mel.
- :mod:`~vocoder.models.errors` - what goes wrong, with the model names attached so each front
  end can add its own hints.

Here so that the ``vocoder`` command takes registry names too (``vocoder`` imports nothing from
``synth``); ``synth.models`` re-exports these names. Loading other kinds of model file is
:class:`synth.hub.ModelHub`'s job.
"""

from .archives import ArchiveError
from .cache import (ENV_HOME, ENV_OFFLINE, ENV_REGISTRY, UNPACK_RATIO, CacheStatus, ModelCache,
                    ResolvedModel, default_home, is_path_like, offline_from_env,
                    registry_path_from_env)
from .download import Downloader, sha256_file
from .errors import (ModelChecksumError, ModelError, ModelKindError, ModelNotFoundError,
                     ModelUnavailableError, RegistryError)
from .registry import (ARCHIVE_SUFFIXES, KINDS, REGISTRY_FORMAT, VOCODER_KINDS, ModelEntry,
                       ModelFile, ModelRegistry, format_size, is_archive_name, kind_label)
from .vocoders import load_named_vocoder, load_resolved_vocoder

__all__ = ["ARCHIVE_SUFFIXES", "ArchiveError", "CacheStatus", "Downloader", "ENV_HOME",
           "ENV_OFFLINE", "ENV_REGISTRY", "KINDS", "ModelCache", "ModelChecksumError",
           "ModelEntry", "ModelError", "ModelFile", "ModelKindError", "ModelNotFoundError",
           "ModelRegistry", "ModelUnavailableError", "REGISTRY_FORMAT", "RegistryError",
           "ResolvedModel", "UNPACK_RATIO", "VOCODER_KINDS", "default_home", "format_size",
           "is_archive_name", "is_path_like", "kind_label", "load_named_vocoder",
           "load_resolved_vocoder", "offline_from_env", "registry_path_from_env",
           "sha256_file"]
