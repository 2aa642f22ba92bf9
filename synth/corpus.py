"""A training corpus: its utterances, their ids and their speakers.

An utterance's id is its audio file's stem; feature files are named ``<id>.npy``, which is
what ``vocoder train --input-features-dir`` looks up for each training audio file. Ids must
therefore be unique in a corpus (LibriSpeech's ``103-1240-0000.flac`` are; two
``speaker/001.wav`` files are not, and are refused).

Utterances come from a directory of audio files (optionally with its subdirectories) or from
an LJSpeech-style list read with the same rules as ``vocoder train --train-list``: one
``id|...`` line per utterance; an entry with an audio extension or a ``/`` is a path
(relative to the list's directory unless absolute), a bare id means ``<wavs_dir>/<id>.wav``
(default ``wavs/`` beside the list). Blank lines and lines starting with ``#`` are skipped.

Speakers (for prematching) come from one of:

- a directory level: ``level=1`` is the audio file's parent directory, ``2`` its grandparent
  (LibriSpeech ``speaker/chapter/utt.flac`` -> 2, VCTK ``p225/p225_001.wav`` -> 1);
- a column of the list: ``column=N`` is the N-th ``|``-separated field, counting the id as 1
  (``id|speaker`` -> 2, ``id|text|speaker`` -> 3);
- a speaker map file of ``id|speaker`` lines (the id may also be written as a path; its
  stem is used);
- one speaker for everything (single-speaker data such as LJSpeech).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from vocoder.audio import AUDIO_EXTENSIONS, list_audio
from vocoder.errors import InputError


class CorpusError(InputError):
    """A corpus that cannot be used as given (bad list, duplicate ids...): exit code 2."""


@dataclass(frozen=True)
class Utterance:
    """One utterance of a corpus.

    Attributes:
        id: the audio file's stem; names its feature file ``<id>.npy``.
        audio: path of the audio file.
        speaker: speaker label (``None`` until assigned).
        fields: the ``|``-separated fields of its list line (empty for directory input).
        line: its line number in the list (0 for directory input).
    """

    id: str
    audio: Path
    speaker: str | None = None
    fields: tuple[str, ...] = ()
    line: int = 0

    @property
    def where(self) -> str:
        """How messages name the utterance: its audio path (and list line)."""
        return f"{self.audio} (line {self.line})" if self.line else str(self.audio)


# ---------------------------------------------------------------------- listing
def read_list(path: str | os.PathLike, wavs_dir: str | os.PathLike | None = None
              ) -> list[Utterance]:
    """Utterances of an LJSpeech-style list (see the module docstring for the rules).

    Raises:
        CorpusError: the list is missing, unreadable or names no utterances.
    """
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: file list not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: cannot read the file list ({exc})") from None
    base = path.parent
    wavs = Path(wavs_dir) if wavs_dir is not None else base / "wavs"
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = tuple(f.strip() for f in line.split("|"))
        entry = fields[0]
        if not entry or entry.startswith("#"):
            continue
        if entry.lower().endswith(AUDIO_EXTENSIONS) or "/" in entry:
            audio = Path(entry)
            audio = audio if audio.is_absolute() else base / audio
        else:
            audio = wavs / f"{entry}.wav"
        out.append(Utterance(audio.stem, audio, fields=fields, line=number))
    if not out:
        raise CorpusError(f"{path}: file list names no utterances (expected 'id|...' lines)")
    return out


def list_directory(directory: str | os.PathLike, recursive: bool = False) -> list[Utterance]:
    """Utterances of the audio files in ``directory`` (and its subdirectories if
    ``recursive``), sorted by path.

    Raises:
        CorpusError: the directory is missing or holds no audio files.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CorpusError(f"{directory}: input directory not found")
    if recursive:
        files = sorted(p for p in directory.rglob("*")
                       if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    else:
        files = list_audio(directory)
    if not files:
        where = " or its subdirectories" if recursive else ""
        hint = "" if recursive else " (add --recursive for audio in subdirectories)"
        raise CorpusError(f"{directory}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in the "
                          f"directory{where}{hint}")
    return [Utterance(p.stem, p) for p in files]


def check_unique_ids(utterances: Sequence[Utterance]) -> None:
    """Refuse two utterances with the same id: their feature files would collide."""
    counts = Counter(u.id for u in utterances)
    dupes = [i for i, n in counts.items() if n > 1]
    if dupes:
        first = dupes[0]
        paths = [str(u.audio) for u in utterances if u.id == first][:2]
        raise CorpusError(
            f"{len(dupes)} utterance id(s) occur more than once (e.g. '{first}': "
            f"{' and '.join(paths)}); feature files are named <id>.npy after the audio file's "
            "stem, which vocoder train looks up, so stems must be unique")


def list_utterances(input_wavs: str | os.PathLike | None = None,
                    train_list: str | os.PathLike | None = None,
                    wavs_dir: str | os.PathLike | None = None,
                    recursive: bool = False) -> list[Utterance]:
    """Utterances of a directory or of a list (exactly one of them), with unique ids."""
    if (input_wavs is None) == (train_list is None):
        raise CorpusError("give either an input directory of audio or a file list")
    if train_list is not None:
        utterances = read_list(train_list, wavs_dir)
    else:
        utterances = list_directory(input_wavs, recursive)
    check_unique_ids(utterances)
    return utterances


# ---------------------------------------------------------------------- speakers
@dataclass(frozen=True)
class SpeakerSource:
    """Where speakers come from: exactly one of the attributes is set.

    Attributes:
        dir_level: directory level above the audio file (1 = parent).
        column: ``|``-separated field of the list line (1 = the id).
        map_file: file of ``id|speaker`` lines.
        single: one speaker for the whole corpus.
    """

    dir_level: int | None = None
    column: int | None = None
    map_file: Path | None = None
    single: bool = False

    def describe(self) -> str:
        """A short description, recorded with prematched features."""
        if self.dir_level is not None:
            return f"directory level {self.dir_level}"
        if self.column is not None:
            return f"list column {self.column}"
        if self.map_file is not None:
            return f"speaker map {Path(self.map_file).name}"
        return "single speaker"

    def validate(self) -> "SpeakerSource":
        given = sum([self.dir_level is not None, self.column is not None,
                     self.map_file is not None, bool(self.single)])
        if given != 1:
            raise CorpusError("say where speakers come from: one of a directory level, a list "
                              "column, a speaker map file or a single speaker")
        if self.dir_level is not None and self.dir_level < 1:
            raise CorpusError(f"speaker directory level must be >= 1 (1 = the audio file's "
                              f"parent directory), got {self.dir_level}")
        if self.column is not None and self.column < 2:
            raise CorpusError(f"speaker column must be >= 2 (column 1 is the utterance id), got "
                              f"{self.column}")
        return self


def read_speaker_map(path: str | os.PathLike) -> dict[str, str]:
    """``id -> speaker`` from a file of ``id|speaker`` lines (ids may be paths: stems are used).

    Raises:
        CorpusError: missing file, a line without a speaker, or an id given twice with
            different speakers.
    """
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: speaker map not found")
    out: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = [f.strip() for f in line.split("|")]
        if not fields[0] or fields[0].startswith("#"):
            continue
        if len(fields) < 2 or not fields[1]:
            raise CorpusError(f"{path}, line {number}: expected 'id|speaker', got {line.strip()!r}")
        key = Path(fields[0]).stem if fields[0].lower().endswith(AUDIO_EXTENSIONS) \
            or "/" in fields[0] else fields[0]
        if out.get(key, fields[1]) != fields[1]:
            raise CorpusError(f"{path}, line {number}: '{key}' is given two speakers "
                              f"('{out[key]}' and '{fields[1]}')")
        out[key] = fields[1]
    if not out:
        raise CorpusError(f"{path}: speaker map has no 'id|speaker' lines")
    return out


def assign_speakers(utterances: Sequence[Utterance], source: SpeakerSource
                    ) -> tuple[list[Utterance], list[tuple[Utterance, str]]]:
    """Give each utterance its speaker.

    Returns:
        ``(assigned, problems)``: the utterances with a speaker, and ``(utterance, reason)``
        for those whose speaker could not be found (missing column, not in the map...).

    Raises:
        CorpusError: a bad source, or no utterance got a speaker (the source is surely wrong).
    """
    source.validate()
    mapping = read_speaker_map(source.map_file) if source.map_file is not None else None
    assigned, problems = [], []
    for utt in utterances:
        speaker, reason = None, ""
        if source.single:
            speaker = "speaker"
        elif source.dir_level is not None:
            parents = Path(os.path.abspath(utt.audio)).parents
            if source.dir_level < len(parents) and parents[source.dir_level - 1].name:
                speaker = parents[source.dir_level - 1].name
            else:
                reason = (f"no directory {source.dir_level} level(s) above the audio file for "
                          "the speaker")
        elif source.column is not None:
            if not utt.fields:
                reason = "a speaker column needs a file list, not a directory"
            elif len(utt.fields) < source.column or not utt.fields[source.column - 1]:
                reason = (f"list line has {len(utt.fields)} field(s), no speaker in column "
                          f"{source.column}")
            else:
                speaker = utt.fields[source.column - 1]
        else:
            assert mapping is not None
            speaker = mapping.get(utt.id)
            if speaker is None:
                reason = f"'{utt.id}' is not in the speaker map {source.map_file}"
        if speaker is None:
            problems.append((utt, reason))
        else:
            assigned.append(replace(utt, speaker=speaker))
    if not assigned:
        first = problems[0][1] if problems else "the corpus is empty"
        raise CorpusError(f"no utterance has a speaker ({source.describe()}): {first}")
    return assigned, problems


def by_speaker(utterances: Sequence[Utterance]) -> dict[str, list[Utterance]]:
    """Utterances grouped by speaker: speakers sorted by name, utterances by id."""
    groups: dict[str, list[Utterance]] = {}
    for utt in utterances:
        if utt.speaker is None:
            raise ValueError(f"{utt.where}: utterance has no speaker")
        groups.setdefault(utt.speaker, []).append(utt)
    return {s: sorted(groups[s], key=lambda u: u.id) for s in sorted(groups)}


__all__ = ["CorpusError", "SpeakerSource", "Utterance", "assign_speakers", "by_speaker",
           "check_unique_ids", "list_directory", "list_utterances", "read_list",
           "read_speaker_map"]
