"""What a user of the web app may pick by name: vocoders, saved voices, models to download.

Names sent by users (a vocoder choice, a saved voice, a model to download) are looked up in
the registry, a models folder and a voices folder, and never opened as paths: absolute paths,
``..`` and links leading out of the models folder are refused. The catalog also says what is
there and what is missing (the registry's cache state, with sizes), so a page can preselect a
vocoder that is present and say what to download.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vocoder.errors import InputError

from .defaults import AUTO_ACOUSTIC, DEFAULT_ACOUSTIC_MODELS, ESPEAK, GRIFFINLIM, NO_VOCODER
from .models import ModelCache, ModelEntry, format_size, is_path_like, kind_label

VOICE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MODEL_FILE_SKIP = {".json", ".txt", ".md", ".yaml", ".yml", ".lock", ".part", ".h5", ".npy"}
#: A checkpoint in the models folder has one of these beside it (its family's config file).
CONFIG_FILES = ("config.json", "hyperparams.yaml", "config.yml")
MODEL_HEADERS = ["name", "kind", "size", "state", "used here as", "licence", "cache path"]
DEFAULT = "default"  # the choice that means the vocoder the app was started with


class ChoiceError(InputError):
    """A name that is not one of the choices offered; the message lists what is."""


def display_name(spec: str | os.PathLike) -> str:
    """A model as a page shows it: a registry name as it is, a path by its file name (the
    server's folders are not shown)."""
    text = os.fspath(spec)
    return os.path.basename(text) if is_path_like(text) else text


class ModelCatalog:
    """The choices of one app.

    Args:
        cache: the registry and its cache.
        default_vocoder: the mel vocoder the app was started with (name, path,
            ``griffinlim`` or ``none``).
        default_acoustic: the acoustic model the app was started with (``auto``, ``espeak``,
            a registry name or a Tacotron2 file).
        models_dir: extra checkpoints (each with its config file beside it: ``config.json``,
            SpeechBrain's ``hyperparams.yaml``, ESPnet's ``config.yml``); the only folder
            a vocoder name may point into.
        voices_dir: saved voices (``<name>.pt``).
    """

    def __init__(self, cache: ModelCache, default_vocoder: str, models_dir: Path | None,
                 voices_dir: Path, default_acoustic: str = AUTO_ACOUSTIC) -> None:
        self.cache = cache
        self.default_vocoder = default_vocoder
        self.default_acoustic = default_acoustic
        self.models_dir = models_dir.resolve() if models_dir is not None else None
        self.voices_dir = voices_dir.resolve()

    # ------------------------------------------------------------------ vocoders

    def present(self, name: str) -> bool:
        """A registry model whose file is in the cache."""
        return self.cache.status(name).present

    def default_present(self) -> bool:
        """The default vocoder can run without a download."""
        name = self.default_vocoder
        return name not in self.cache.registry or is_path_like(name) or self.present(name)

    def vocoder_choices(self) -> list[tuple[str, str]]:
        """Mel vocoders to offer, as ``(label, value)``; the value is what the API takes
        (``default`` for the one the app was started with). Labels say what is not
        downloaded, and its size."""
        default = self.default_vocoder
        state = "" if self.default_present() else f", not downloaded, {self._size(default)}"
        choices = [(f"{display_name(default)} (default{state})", DEFAULT)]
        for entry in self.cache.registry:
            if entry.kind == "mel_vocoder" and entry.name != default:
                state = ("downloaded" if self.present(entry.name)
                         else f"not downloaded, {entry.size_text}")
                choices.append((f"{entry.name} ({state})", entry.name))
        if default != GRIFFINLIM:
            choices.append((f"{GRIFFINLIM} (no weights, low quality)", GRIFFINLIM))
        for rel in self.model_files():
            choices.append((f"{rel} (models folder)", rel))
        return choices

    def preselected_vocoder(self) -> str:
        """The choice a page starts with: the default when it is present, else a registry mel
        vocoder that is, else the first checkpoint of the models folder, else Griffin-Lim."""
        if self.default_present():
            return DEFAULT
        for entry in self.cache.registry:
            if entry.kind == "mel_vocoder" and self.present(entry.name):
                return entry.name
        files = self.model_files()
        return files[0] if files else GRIFFINLIM

    def resolve_vocoder(self, choice: str | None, allow_none: bool = True) -> str | None:
        """What a vocoder choice means for :class:`synth.pipeline.Synthesizer`: ``None`` (the
        default), ``griffinlim``, ``none``, a registry mel vocoder, or the path of a file in
        the models folder. Any other string is refused; it is never opened as a path."""
        choice = (choice or "").strip()
        if choice in ("", DEFAULT, self.default_vocoder):
            return None
        if choice in (GRIFFINLIM, NO_VOCODER):
            if choice == NO_VOCODER and not allow_none:
                raise ChoiceError(f"vocoder '{NO_VOCODER}' only applies to text to speech; "
                                  "choose a vocoder")
            return choice
        if choice in self.cache.registry:
            entry = self.cache.registry.get(choice)
            if entry.kind != "mel_vocoder":
                raise ChoiceError(f"model '{choice}' is {kind_label(entry.kind, True)}, not a mel "
                                  "vocoder; choose a mel vocoder")
            return choice
        path = self._models_dir_file(choice)
        if path is None:
            known = ", ".join(v for _, v in self.vocoder_choices())
            where = ("a checkpoint in the models folder" if self.models_dir
                     else "a checkpoint in a models folder (the app was started without one)")
            raise ChoiceError(f"unknown vocoder {choice!r}: give a registry name, "
                              f"'{GRIFFINLIM}' or {where}; available: {known}")
        return str(path)

    def model_files(self) -> list[str]:
        """Checkpoints in the models folder (with a config file beside them), relative."""
        if self.models_dir is None or not self.models_dir.is_dir():
            return []
        found = []
        for path in sorted(self.models_dir.rglob("*")):
            rel = path.relative_to(self.models_dir)
            if (len(rel.parts) > 4 or not path.is_file() or path.name.startswith(".")
                    or path.suffix.lower() in MODEL_FILE_SKIP
                    or not any((path.parent / c).is_file() for c in CONFIG_FILES)):
                continue
            found.append(rel.as_posix())
            if len(found) >= 200:
                break
        return found

    def _models_dir_file(self, name: str) -> Path | None:
        """``name`` as a file inside the models folder, or ``None`` (also for names that
        would leave the folder: absolute paths, ``..``, links pointing out)."""
        if self.models_dir is None or "\x00" in name or Path(name).is_absolute():
            return None
        candidate = (self.models_dir / name).resolve()
        if not candidate.is_relative_to(self.models_dir) or not candidate.is_file():
            return None
        return candidate

    # ------------------------------------------------------------------ acoustic models

    def acoustic_choices(self) -> list[tuple[str, str]]:
        """Acoustic models to offer for text to speech, as ``(label, value)``: the registry's
        (saying what is not downloaded, and its size), a file the app was started with
        (``default``), and the espeak-ng base voice (``espeak``)."""
        choices = []
        given = self.default_acoustic
        if is_path_like(given) and given.strip().lower() not in (AUTO_ACOUSTIC, ESPEAK):
            choices.append((f"{display_name(given)} (default)", DEFAULT))
        for entry in self.cache.registry:
            if entry.kind == "acoustic_model":
                state = ("downloaded" if self.present(entry.name)
                         else f"not downloaded, {entry.size_text}")
                choices.append((f"{entry.name} ({state})", entry.name))
        choices.append(("espeak-ng base voice (no download)", ESPEAK))
        return choices

    def preselected_acoustic(self) -> str:
        """The choice a page starts with: a file or registry model the app was started with,
        else (``auto``) the first default Tacotron2 that is downloaded, else any downloaded
        acoustic model, else the espeak-ng base voice."""
        given = self.default_acoustic.strip()
        if given.lower() == ESPEAK:
            return ESPEAK
        if given.lower() != AUTO_ACOUSTIC:
            return DEFAULT if is_path_like(given) else given
        registry = self.cache.registry
        names = [n for n in DEFAULT_ACOUSTIC_MODELS if n in registry] + \
            [e.name for e in registry if e.kind == "acoustic_model"]
        return next((n for n in names if self.present(n)), ESPEAK)

    def resolve_acoustic(self, choice: str | None) -> str | None:
        """What an acoustic choice means for :class:`synth.pipeline.Synthesizer`: ``None``
        (the one the app was started with), ``auto``, ``espeak`` or a registry acoustic
        model. Any other string is refused; it is never opened as a path."""
        choice = (choice or "").strip()
        if choice in ("", DEFAULT, self.default_acoustic):
            return None
        if choice.lower() in (AUTO_ACOUSTIC, ESPEAK):
            return choice.lower()
        if choice in self.cache.registry:
            entry = self.cache.registry.get(choice)
            if entry.kind != "acoustic_model":
                raise ChoiceError(f"model '{choice}' is {kind_label(entry.kind, True)}, not an "
                                  "acoustic model; choose an acoustic model or the espeak-ng "
                                  "base voice")
            return choice
        known = ", ".join(v for _, v in self.acoustic_choices())
        raise ChoiceError(f"unknown acoustic model {choice!r}: give a registry name, "
                          f"'{ESPEAK}' or '{AUTO_ACOUSTIC}'; available: {known}")

    # ------------------------------------------------------------------ voices

    def voice_names(self) -> list[str]:
        """Saved voices (``<voices_dir>/<name>.pt``)."""
        if not self.voices_dir.is_dir():
            return []
        return sorted(p.stem for p in self.voices_dir.glob("*.pt")
                      if p.is_file() and VOICE_NAME.match(p.stem))

    def voice_path(self, name: str | None) -> Path:
        """The saved voice called ``name``; only names listed in the voices folder."""
        name = (name or "").strip()
        if not name:
            raise ChoiceError("choose a saved voice (save one in the Voice conversion tab)")
        if not VOICE_NAME.match(name) or name not in self.voice_names():
            saved = ", ".join(self.voice_names()) or "none yet"
            raise ChoiceError(f"no saved voice called {name!r} (saved voices: {saved})")
        return self.voices_dir / f"{name}.pt"

    def new_voice_path(self, name: str | None) -> Path:
        """Where a voice called ``name`` is saved (letters, digits, ``_``, ``-``)."""
        name = (name or "").strip()
        if not VOICE_NAME.match(name):
            raise ChoiceError(f"voice name {name!r} is not allowed: use 1-64 letters, digits, "
                              "'_' or '-'")
        return self.voices_dir / f"{name}.pt"

    # ------------------------------------------------------------------ the registry

    def entry(self, name: str) -> ModelEntry:
        """A registry model to download; only registry names."""
        name = (name or "").strip()
        if not name:
            raise ChoiceError("choose a model to download")
        if name not in self.cache.registry:
            raise ChoiceError(f"unknown model {name!r}; known models: "
                              f"{', '.join(self.cache.registry.names())}")
        return self.cache.registry.get(name)

    def models_table(self, uses: dict[str, str]) -> list[list[str]]:
        """The registry's models and their cache state (rows under :data:`MODEL_HEADERS`);
        ``uses`` says what this app uses a model for. The size is the file's once it is
        here, else the registry's (``~`` when approximate)."""
        rows = []
        for entry in self.cache.registry:
            status = self.cache.status(entry.name)
            state, size = status.state, entry.size_text
            if state == "partial":
                state = f"partial ({format_size(status.bytes)} so far)"
            elif status.present:
                size = format_size(status.bytes)
            rows.append([entry.name, entry.kind_text, size, state,
                         uses.get(entry.name, ""), entry.licence, str(status.path)])
        return rows

    def missing(self, names: list[str]) -> list[ModelEntry]:
        """The registry models among ``names`` that are not in the cache."""
        return [self.cache.registry.get(n) for n in names
                if n in self.cache.registry and not is_path_like(n) and not self.present(n)]

    def _size(self, name: str) -> str:
        return self.cache.registry.get(name).size_text if name in self.cache.registry else "?"


__all__ = ["ChoiceError", "DEFAULT", "MODEL_HEADERS", "ModelCatalog", "VOICE_NAME",
           "display_name"]
