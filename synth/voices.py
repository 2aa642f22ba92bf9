"""Target voices for voice conversion: what a user may give as a voice, and a small store of
the matching sets made from files, so repeated requests with one voice do not rebuild it."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, Union

import numpy as np
from torch import Tensor

from vocoder.audio import AUDIO_EXTENSIONS, list_audio
from vocoder.errors import InputError

from .audio import AudioInput

if TYPE_CHECKING:  # synth.knnvc loads torchaudio's wav2vec2 models
    from .knnvc import MatchingSet

#: Saved voices (matching sets written by ``MatchingSet.save``).
MATCHING_SET_SUFFIXES = (".pt", ".pth")
#: A voice: reference clip path(s) or waveforms, a folder of clips, a saved voice, a set.
Voice = Union[str, os.PathLike, "MatchingSet", Sequence[AudioInput], np.ndarray, Tensor]


class VoiceError(InputError):
    """A voice that cannot be used (not found, not audio, no clips); the message says which."""


def is_saved_voice(voice: Any) -> bool:
    """True for a path to a saved voice (``.pt``/``.pth``)."""
    return (isinstance(voice, (str, os.PathLike))
            and Path(voice).suffix.lower() in MATCHING_SET_SUFFIXES)


def reference_list(references: Any) -> list[AudioInput]:
    """Reference clips as a flat list: folders become their audio files, a single clip or
    waveform a list of one.

    Raises:
        VoiceError: a path that does not exist, a file that is not audio, an empty folder or
            an empty list.
    """
    if isinstance(references, (str, os.PathLike)):
        path = Path(references)
        if path.is_dir():
            clips = list_audio(path)
            if not clips:
                raise VoiceError(f"{path}: no audio files in the voice folder")
            return list(clips)
        if not path.exists():
            raise VoiceError(f"{path}: voice not found (expected reference audio "
                             f"({', '.join(AUDIO_EXTENSIONS)}), a folder of clips or a "
                             "saved voice .pt)")
        if path.suffix.lower() not in AUDIO_EXTENSIONS:
            raise VoiceError(f"{path}: not a voice: expected reference audio "
                             f"({', '.join(AUDIO_EXTENSIONS)}) or a saved voice (.pt)")
        return [path]
    if isinstance(references, (np.ndarray, Tensor)) or (
            isinstance(references, tuple) and len(references) == 2
            and isinstance(references[1], (int, np.integer))):
        return [references]
    refs = list(references)
    if not refs:
        raise VoiceError("no reference audio given for the voice")
    out: list[AudioInput] = []
    for ref in refs:
        if isinstance(ref, (str, os.PathLike)):
            out.extend(reference_list(ref))
        else:
            out.append(ref)
    return out


def voice_key(voice: Any) -> tuple | None:
    """A key for file-based voices (path, size, modification time of each file), so a file
    that changes is read again; ``None`` for in-memory voices."""
    if isinstance(voice, (str, os.PathLike)):
        paths = [Path(voice)]
    elif isinstance(voice, (list, tuple)) and voice and all(
            isinstance(v, (str, os.PathLike)) for v in voice):
        paths = [Path(v) for v in voice]
    else:
        return None
    key = []
    for p in paths:
        try:
            for f in (list_audio(p) if p.is_dir() else [p]):
                st = f.stat()
                key.append((str(f.resolve()), st.st_size, st.st_mtime_ns))
        except OSError:
            return None
    return tuple(key)


class VoiceStore:
    """Matching sets made from files, the ``size`` most recently used, keyed by
    :func:`voice_key` and the extractor settings they were made with. Thread-safe."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._sets: OrderedDict[tuple, "MatchingSet"] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, voice: Any, settings: tuple, build: Callable[[], "MatchingSet"]
            ) -> "MatchingSet":
        """The set for ``voice``, built by ``build`` unless a file-based one is kept."""
        key = voice_key(voice)
        if key is None or self.size < 1:
            return build()
        key = (settings, key)
        with self._lock:
            if key in self._sets:
                self._sets.move_to_end(key)
                return self._sets[key]
        result = build()
        with self._lock:
            self._sets[key] = result
            while len(self._sets) > self.size:
                self._sets.popitem(last=False)
        return result


__all__ = ["MATCHING_SET_SUFFIXES", "Voice", "VoiceError", "VoiceStore", "is_saved_voice",
           "reference_list", "voice_key"]
