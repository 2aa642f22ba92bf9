"""Sentences -> the token ids torchaudio's LJSpeech Tacotron2 models read.

- :data:`CHARACTERS`: torchaudio's ``english_characters`` symbols (pad ``_``, ``-``,
  ``!'(),.:;?``, space, ``a``-``z``): the character model reads lower-cased text.
- :data:`PHONEME_SYMBOLS`: torchaudio's ``english_phonemes`` symbols: the same twelve, then
  CMUdict's 84 ARPAbet phones. The published phoneme model was trained on DeepPhonemizer's
  CMUdict output, which has no stress digits and keeps only ``-().,:?!`` and spaces, so
  :class:`PhonemeTokenizer` produces bare phones, turns ``;`` into ``,`` (a pause the model
  knows) and drops quote marks.

Both first reduce a sentence to plain English (:func:`plain_english`): accents are dropped
(``café`` -> ``cafe``), digits left over by normalisation are read one by one, symbols become
spaces, and letters of other alphabets are an error (they are words the model cannot say).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Protocol, Sequence

from synth.phonemes import ARPABET, Phonemizer
from synth.text import TextError, digits_to_words

_SPECIAL = ("_", "-", "!", "'", "(", ")", ",", ".", ":", ";", "?", " ")
#: torchaudio's ``english_characters`` (index = token id; 0 is padding).
CHARACTERS: tuple[str, ...] = _SPECIAL + tuple("abcdefghijklmnopqrstuvwxyz")
#: torchaudio's ``english_phonemes`` (index = token id; 0 is padding).
PHONEME_SYMBOLS: tuple[str, ...] = _SPECIAL + ARPABET
_PUNCTUATION = "-!'(),.:;?"

_LETTERS = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe", "ø": "o",
                          "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D",
                          "þ": "th", "Þ": "Th", "ı": "i"})
_WORD = re.compile(r"[A-Za-z']*[A-Za-z][A-Za-z']*(?:-[A-Za-z']*[A-Za-z][A-Za-z']*)*")


@dataclass(frozen=True)
class Tokens:
    """A sentence as a model reads it: ``symbols[i]`` has id ``ids[i]``; ``spelled`` lists
    words that had no pronunciation and were spelled letter by letter."""

    symbols: tuple[str, ...]
    ids: tuple[int, ...]
    spelled: tuple[str, ...] = ()


class Tokenizer(Protocol):
    """Sentence -> :class:`Tokens` over ``symbols`` (the model's embedding rows)."""

    symbols: tuple[str, ...]

    def __call__(self, sentence: str) -> Tokens: ...


def plain_english(sentence: str, what: str = "the model") -> str:
    """English letters, ``-!'(),.:;?`` and single spaces, nothing else.

    Raises:
        TextError: letters of another alphabet (named in the message, with ``what``).
    """
    text = unicodedata.normalize("NFKD", sentence.translate(_LETTERS))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"\d+", lambda m: f" {digits_to_words(m.group())} ", text)
    kept, unknown = [], []
    for c in text:
        if c.isascii() and c.isalpha() or c in _PUNCTUATION:
            kept.append(c)
        elif c.isalpha():
            unknown.append(c)
        else:
            kept.append(" ")
    if unknown:
        letters = "".join(dict.fromkeys(unknown))
        raise TextError(f"{what} reads English letters only; {sentence[:60]!r} has "
                        f"{letters!r}")
    return re.sub(r"\s+", " ", "".join(kept)).strip()


def _indexed(symbols: Sequence[str], tokens: Sequence[str], sentence: str, spelled=()) -> Tokens:
    if not tokens:
        raise TextError(f"nothing to say in {sentence[:60]!r}")
    index = {s: i for i, s in enumerate(symbols)}
    return Tokens(tuple(tokens), tuple(index[t] for t in tokens), tuple(spelled))


class CharacterTokenizer:
    """Sentence -> torchaudio's ``english_characters`` ids (lower-cased plain English).

    On text that :func:`plain_english` leaves alone this equals torchaudio's own
    ``TACOTRON2_*_CHAR_LJSPEECH.get_text_processor()``.
    """

    symbols = CHARACTERS

    def __call__(self, sentence: str) -> Tokens:
        text = plain_english(sentence, "the character Tacotron2").lower()
        return _indexed(self.symbols, list(text), sentence)


class PhonemeTokenizer:
    """Sentence -> torchaudio's ``english_phonemes`` ids, words through a :class:`Phonemizer`.

    A hyphenated word missing from the dictionary is said part by part with ``-`` between
    (as DeepPhonemizer does); a spelled word's letters are separated by spaces; a capital
    letter standing alone, other than the first word, is said by its name (``N A S A``).
    """

    symbols = PHONEME_SYMBOLS

    def __init__(self, phonemizer: Phonemizer) -> None:
        if phonemizer.stress:
            raise ValueError("the phoneme Tacotron2 reads phones without stress digits: "
                             "use Phonemizer(..., stress=False)")
        self.phonemizer = phonemizer

    def __call__(self, sentence: str) -> Tokens:
        text = plain_english(sentence, "the phoneme Tacotron2").replace(";", ",")
        tokens: list[str] = []
        spelled: list[str] = []
        position = 0
        for match in _WORD.finditer(text):
            tokens += [c for c in text[position:match.start()] if c != "'"]
            position = match.end()
            word = match.group()
            pieces = ([word] if "-" not in word or word in self.phonemizer.dictionary
                      else [p for p in word.split("-") if p.strip("'")])
            for i, piece in enumerate(pieces):
                # a capital letter standing alone after the first word is a letter: "N A S A"
                alone = len(piece) == 1 and piece.isupper() and any(t != " " for t in tokens)
                said = self.phonemizer.letter(piece) if alone else self.phonemizer.word(piece)
                if said.source == "spelled":
                    spelled.append(piece)
                tokens += ["-"] if i else []
                for j, phones in enumerate(said.words):
                    tokens += ([" "] if j else []) + list(phones)
        tokens += [c for c in text[position:] if c != "'"]
        collapsed = [t for i, t in enumerate(tokens) if t != " " or i and tokens[i - 1] != " "]
        while collapsed and collapsed[0] == " ":
            collapsed.pop(0)
        while collapsed and collapsed[-1] == " ":
            collapsed.pop()
        return _indexed(self.symbols, collapsed, sentence, dict.fromkeys(spelled))


__all__ = ["CHARACTERS", "CharacterTokenizer", "PHONEME_SYMBOLS", "PhonemeTokenizer", "Tokenizer",
           "Tokens", "plain_english"]
