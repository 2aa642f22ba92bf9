"""Importing the packages hifisynth needs, with one line that says what to do when one fails.

torch and torchaudio are binary-matched: a torchaudio wheel only loads with the torch it was
built against (torchaudio 2.11.1, for example, fails with torch 2.11.0 on an undefined symbol).
hifisynth pins the pair it was tested with (:data:`TESTED`, the same pins as
``pyproject.toml``). When an import fails, :func:`require` raises a
:class:`~vocoder.errors.DependencyError` whose message names what needed the package, the
installed versions, the underlying error and the command that fixes it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from types import ModuleType

#: The binary-matched pair hifisynth is tested with (pinned exactly in pyproject.toml).
TESTED = {"torch": "2.11.0", "torchaudio": "2.11.0"}

#: Distribution name and the hifisynth extra that installs each optional package.
_EXTRAS = {
    "transformers": ("transformers", "hf"),
    "gradio": ("gradio", "app"),
    "gradio_client": ("gradio_client", "test"),
}
_DISTRIBUTIONS = {"espeakng_loader": "espeakng-loader", "soundfile": "soundfile",
                  "pyloudnorm": "pyloudnorm"}


def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution (from its metadata, without importing it)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str]:
    """Installed versions of torch and torchaudio (``"not installed"`` when absent)."""
    return {name: installed_version(name) or "not installed" for name in TESTED}


def version_line(program: str, version: str) -> str:
    """``"<program> <version> (torch X, torchaudio Y)"``: what ``--version`` prints."""
    found = versions()
    return f"{program} {version} (torch {found['torch']}, torchaudio {found['torchaudio']})"


def _root_cause(exc: BaseException) -> str:
    """The innermost message of an exception chain (e.g. the undefined symbol behind
    torchaudio's "Could not load this library"), on one line, shared-library paths shortened
    to their file names."""
    seen: set[int] = set()
    text = ""
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = " ".join(str(exc).split()) or text or type(exc).__name__
        exc = exc.__cause__ or exc.__context__
    return re.sub(r"(?:/[^\s:/]+)+/([^\s:/]+\.so[.\d]*)", r"\1", text) or "unknown error"


def torch_pair_message(purpose: str, exc: BaseException) -> str:
    """The one-line message for a torch/torchaudio import failure."""
    found = versions()
    pins = " ".join(f"{name}=={version}" for name, version in TESTED.items())
    if found["torchaudio"] == "not installed":
        why = "torchaudio is not installed"
    elif found["torchaudio"] != found["torch"].split("+")[0]:
        why = (f"torchaudio {found['torchaudio']} does not load with torch {found['torch']}: "
               "they must be built for each other")
    else:
        why = f"torchaudio {found['torchaudio']} with torch {found['torch']} does not load"
    return (f"{purpose} needs torchaudio, and {why} ({_root_cause(exc)}); install the tested "
            f"pair: pip install {pins}")


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` for ``purpose`` (e.g. ``"voice conversion"``).

    Raises:
        DependencyError: the package is missing or fails to import; one line naming the
            package, ``purpose``, the installed versions, the error and the fix.
    """
    from .errors import DependencyError

    try:
        return importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - OSError for a bad binary, ImportError, anything
        top = module.split(".")[0]
        if top in ("torchaudio", "torch"):
            raise DependencyError(torch_pair_message(purpose, exc)) from exc
        dist, extra = _EXTRAS.get(top, (_DISTRIBUTIONS.get(top, top), None))
        version = installed_version(dist)
        fix = f"pip install 'hifisynth[{extra}]'" if extra else f"pip install {dist}"
        if version is None:
            raise DependencyError(f"{purpose} needs the package '{dist}', which is not "
                                  f"installed; {fix}") from exc
        raise DependencyError(f"{purpose} needs '{dist}' ({dist} {version} is installed but "
                              f"cannot be imported: {_root_cause(exc)}); reinstall it: "
                              f"{fix}") from exc


__all__ = ["TESTED", "installed_version", "require", "torch_pair_message", "version_line",
           "versions"]
