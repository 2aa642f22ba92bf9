"""Named pretrained models: the registry, the local cache and resumable, checksummed downloads.

- :mod:`~vocoder.models.registry` - :class:`ModelRegistry`, the entries of a registry file
  (``assets/models.json``): kind, download URL(s), sha256, size, config, licence, source.
- :mod:`~vocoder.models.cache` - :class:`ModelCache`, the files of those models under a home
  directory (``<home>/models/<name>/<filename>``), checked before use.
- :mod:`~vocoder.models.download` - resumable downloads with retries and progress.
- :mod:`~vocoder.models.errors` - what goes wrong, with the model names attached so each front
  end can add its own hints.

Turning a model file into a loaded component is :class:`synth.hub.ModelHub`'s job.
"""

from .cache import (ENV_HOME, ENV_OFFLINE, ENV_REGISTRY, CacheStatus, ModelCache, ResolvedModel,
                    default_home, is_path_like, offline_from_env, registry_path_from_env)
from .download import Downloader, sha256_file
from .errors import (ModelChecksumError, ModelError, ModelKindError, ModelNotFoundError,
                     ModelUnavailableError, RegistryError)
from .registry import (KINDS, REGISTRY_FORMAT, VOCODER_KINDS, ModelEntry, ModelRegistry,
                       format_size, kind_label)

__all__ = ["CacheStatus", "Downloader", "ENV_HOME", "ENV_OFFLINE", "ENV_REGISTRY", "KINDS",
           "ModelCache", "ModelChecksumError", "ModelEntry", "ModelError", "ModelKindError",
           "ModelNotFoundError", "ModelRegistry", "ModelUnavailableError", "REGISTRY_FORMAT",
           "RegistryError", "ResolvedModel", "VOCODER_KINDS", "default_home", "format_size",
           "is_path_like", "kind_label", "offline_from_env", "registry_path_from_env",
           "sha256_file"]
