"""The errors of the model registry and cache.

Messages are neutral: they say which model, which file and what is wrong, and how to place a
file by hand; the front ends (the ``synth`` command, the web app) add their own hints (a
command to run, a tab to use) from the attributes these errors carry.
"""

from __future__ import annotations

from typing import Sequence

from vocoder.errors import HifisynthError


class ModelError(HifisynthError):
    """A model that cannot be used; the message says which and what to do. ``exit_code`` is
    what a command exits with (2: the input named a model that cannot be used)."""

    exit_code = 2


class RegistryError(ModelError):
    """A registry file that cannot be used; the message names the file, the entry and the key."""


class ModelNotFoundError(ModelError):
    """Neither a registry name nor an existing file."""


class ModelKindError(ModelError):
    """A model of another kind than the one asked for (a feature vocoder given as a mel vocoder).

    Attributes:
        model: the registry name or file.
        kind: what the model is (``"feature_vocoder"``...).
        expected: what was asked for.
    """

    def __init__(self, message: str, *, model: str, kind: str, expected: str) -> None:
        super().__init__(message)
        self.model, self.kind, self.expected = model, kind, expected


class ModelUnavailableError(ModelError):
    """Known models whose files are not here and could not be fetched (offline, downloads
    off, network error).

    Attributes:
        models: the registry names concerned (one, or every model an action lacks).
        kinds: their kinds, in the same order.
        offline: the cache was offline (it never touches the network).
        reason: ``"missing"`` (not in the cache, and not downloaded: offline, or downloads
            were not allowed), ``"download_failed"`` or ``"corrupt"``.
        summary: the message's first sentence (which models, how big), for front ends that
            show where files go elsewhere; the whole message when it is one sentence.
    """

    exit_code = 1

    def __init__(self, message: str, *, models: Sequence[str] = (), kinds: Sequence[str] = (),
                 offline: bool = False, reason: str = "missing", summary: str | None = None
                 ) -> None:
        super().__init__(message)
        self.models = tuple(models)
        self.kinds = tuple(kinds)
        self.offline = offline
        self.reason = reason
        self.summary = summary or message


class ModelChecksumError(ModelUnavailableError):
    """A file whose sha256 or size is not the expected one."""


__all__ = ["ModelChecksumError", "ModelError", "ModelKindError", "ModelNotFoundError",
           "ModelUnavailableError", "RegistryError"]
