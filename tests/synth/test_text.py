"""synth.text: number words, normalisation, sentence splitting and the espeak-ng base voice."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from synth.audio import trim_silence
from synth.text import (EspeakError, EspeakVoice, TextError, normalize_text, number_to_words,
                        ordinal_to_words, split_sentences, year_to_words)


@pytest.mark.parametrize("n, words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (20, "twenty"), (21, "twenty-one"),
    (100, "one hundred"), (101, "one hundred one"), (999, "nine hundred ninety-nine"),
    (1000, "one thousand"), (1001, "one thousand one"),
    (123456, "one hundred twenty-three thousand four hundred fifty-six"),
    (1_000_000, "one million"), (2_000_300_004, "two billion three hundred thousand four"),
    (-7, "minus seven"),
])
def test_number_to_words(n: int, words: str) -> None:
    assert number_to_words(n) == words


@pytest.mark.parametrize("n, words", [
    (1, "first"), (2, "second"), (3, "third"), (4, "fourth"), (5, "fifth"), (8, "eighth"),
    (9, "ninth"), (11, "eleventh"), (12, "twelfth"), (20, "twentieth"), (21, "twenty-first"),
    (100, "one hundredth"), (103, "one hundred third"), (1000, "one thousandth"),
])
def test_ordinal_to_words(n: int, words: str) -> None:
    assert ordinal_to_words(n) == words


@pytest.mark.parametrize("year, words", [
    (1999, "nineteen ninety-nine"), (1900, "nineteen hundred"), (1905, "nineteen oh five"),
    (2000, "two thousand"), (2005, "two thousand five"), (2024, "twenty twenty-four"),
    (1066, "ten sixty-six"),
])
def test_year_to_words(year: int, words: str) -> None:
    assert year_to_words(year) == words


@pytest.mark.parametrize("text, expected", [
    # integers, grouping, decimals, negatives
    ("I have 3 apples.", "I have three apples."),
    ("About 1,500 people.", "About one thousand five hundred people."),
    ("Pi is 3.14, not .5 or -2.", "Pi is three point one four, not point five or minus two."),
    ("Agent 007.", "Agent zero zero seven."),
    # years, decades, ordinals
    ("In 1999 and 2005 and 2024.", "In nineteen ninety-nine and two thousand five and "
                                   "twenty twenty-four."),
    ("The 1990s and the '80s.", "The nineteen nineties and the eighties."),
    ("The 21st and 102nd time.", "The twenty-first and one hundred second time."),
    # currency and percent
    ("It costs $5.50.", "It costs five dollars and fifty cents."),
    ("$1, $0.99 and $12.", "One dollar, ninety-nine cents and twelve dollars."),
    ("£1.01 or €2.", "One pound and one penny or two euros."),
    ("$1.5 million and $3bn.", "One point five million dollars and three billion dollars."),
    ("Up 12.5% today.", "Up twelve point five percent today."),
    # times, ranges, fractions, units, symbols
    ("At 3:30 pm or 9:05 a.m. today.", "At three thirty P M or nine oh five A M today."),
    ("At 12:00 sharp.", "At twelve o'clock sharp."),
    ("Pages 10-20.", "Pages ten to twenty."),
    ("Add 1/2 or 3/4 or 2/3 cup.", "Add one half or three quarters or two thirds cup."),
    ("Run 5 km at 10 mph; 1 kg.", "Run five kilometers at ten miles per hour; one kilogram."),
    ("It was -5°C.", "It was minus five degrees Celsius."),
    ("Tom & Jerry, #1 and No. 5.", "Tom and Jerry, number one and number five."),
    # abbreviations
    ("Dr. Smith met Mr. Jones.", "Doctor Smith met mister Jones."),
    ("He lives on Elm Dr. near St. Paul's.", "He lives on Elm drive near saint Paul's."),
    ("Main St. is closed. Go.", "Main street is closed. Go."),
    ("Apples, pears, etc. are fruit, e.g. these.",
     "Apples, pears, et cetera are fruit, for example these."),
    ("We sell pens etc. Then we stop.", "We sell pens et cetera. Then we stop."),
    ("On Jan. 3rd, 2001.", "On January third, two thousand one."),
    # punctuation
    ("\u201cHello\u201d \u2014 she said (quietly)\u2026", "Hello, she said, quietly..."),
    ("What?!! Really???", "What? Really?"),
    ("  lots   of\n spaces  ", "Lots of spaces"),
    ("", ""),
])
def test_normalize_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_split_sentences_pauses_and_initials() -> None:
    text = ("Hello there. J. R. R. Tolkien wrote books! Is it 5.5? Yes.\n\n"
            "A new paragraph. And its end.")
    pieces = split_sentences(text)
    assert [p.text for p in pieces] == [
        "Hello there.", "J. R. R. Tolkien wrote books!", "Is it five point five?", "Yes.",
        "A new paragraph.", "And its end."]
    assert [p.pause for p in pieces] == [0.35, 0.35, 0.35, 0.7, 0.35, 0.0]


def test_split_sentences_cuts_long_sentences() -> None:
    words = [f"word{i}" for i in range(120)]
    text = " ".join(words[:40]) + ", " + " ".join(words[40:]) + "."
    pieces = split_sentences(text, normalize=False, max_chars=100)
    assert all(len(p.text) <= 100 for p in pieces) and len(pieces) >= 8
    assert " ".join(p.text for p in pieces).replace(",", "").rstrip(".").split() == words
    assert all(p.pause == 0.15 for p in pieces[:-1]) and pieces[-1].pause == 0.0
    assert split_sentences("  \n\n ") == []
    with pytest.raises(ValueError, match="max_chars"):
        split_sentences("x", max_chars=5)


# ---- espeak-ng ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def voice() -> EspeakVoice:
    return EspeakVoice()


def silent_runs(audio: np.ndarray, min_samples: int) -> list[int]:
    """Lengths of the runs of |x| < 1e-3 that are at least ``min_samples`` long."""
    silent = np.concatenate([[False], np.abs(audio) < 1e-3, [False]])
    edges = np.flatnonzero(np.diff(silent.astype(np.int8)))
    lengths = edges[1::2] - edges[::2]
    return [int(n) for n in lengths if n >= min_samples]


def test_espeak_sentence_audio(voice: EspeakVoice) -> None:
    assert voice.sample_rate == 22050
    text = "The quick brown fox jumps over the lazy dog near the river bank."
    audio = voice.synthesize(text)
    assert audio.dtype == np.float32 and audio.ndim == 1
    seconds = len(trim_silence(audio, 22050, "threshold")) / voice.sample_rate
    expected = 13 / 175 * 60  # 13 words at 175 words per minute: 4.5 s
    assert 0.5 * expected < seconds < 1.5 * expected
    rms = float(np.sqrt(np.mean(audio ** 2)))
    assert rms > 0.02 and np.abs(audio).max() <= 1.0
    # voiced speech: most energy between 80 Hz and 4 kHz
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / voice.sample_rate)
    assert spectrum[(freqs > 80) & (freqs < 4000)].sum() > 0.8 * spectrum.sum()
    # the same text again: the same length to within a few milliseconds (espeak-ng carries
    # pitch-flutter state from the text spoken before: 40 calls after other texts spread over
    # 11 ms, so the bound is 20 ms)
    assert abs(len(voice.synthesize(text)) - len(audio)) < 0.02 * voice.sample_rate


def test_espeak_rate_changes_length(voice: EspeakVoice) -> None:
    text = "Speaking faster makes this sentence shorter."
    normal = len(trim_silence(voice.synthesize(text), 22050, "threshold"))
    fast = len(trim_silence(EspeakVoice(rate=350).synthesize(text), 22050, "threshold"))
    assert 0.35 < fast / normal < 0.7
    # the first voice is re-selected with its own rate after another voice was used
    assert abs(len(trim_silence(voice.synthesize(text), 22050, "threshold")) - normal) \
        < 0.01 * normal


def test_speak_joins_sentences_with_pauses(voice: EspeakVoice) -> None:
    sr = voice.sample_rate
    audio, rate = voice.speak("It is 5 o'clock. Time for tea!", sentence_pause=0.4,
                              edge_silence=0.1)
    assert rate == sr and audio.dtype == np.float32
    edge, pause = int(round(0.1 * sr)), int(round(0.4 * sr))
    loud = np.flatnonzero(np.abs(audio) >= 1e-3)
    assert loud[0] == edge and loud[-1] == len(audio) - edge - 1
    # exactly one long silence, the sentence pause, between two stretches of speech
    assert silent_runs(audio[edge:len(audio) - edge], int(0.3 * sr)) == [pause]
    first = len(trim_silence(voice.synthesize("It is five o'clock."), 22050, "threshold"))
    second = len(trim_silence(voice.synthesize("Time for tea!"), 22050, "threshold"))
    assert abs(len(audio) - (2 * edge + first + pause + second)) < 0.01 * sr


def test_speak_long_text_is_split(voice: EspeakVoice) -> None:
    text = "\n\n".join(" ".join(f"This is sentence {p * 4 + s}." for s in range(1, 5))
                       for p in range(3))
    audio, sr = voice.speak(text)
    assert 12 * 0.8 < len(audio) / sr < 12 * 2.5
    runs = silent_runs(audio, int(0.3 * sr))
    # 2 edges of 0.1 s are shorter; 9 sentence pauses of 0.35 s and 2 paragraph pauses of 0.7 s
    assert sorted(runs) == [int(round(0.35 * sr))] * 9 + [int(round(0.7 * sr))] * 2


def test_speak_errors(voice: EspeakVoice) -> None:
    with pytest.raises(TextError, match="nothing to speak: the text is empty"):
        voice.speak("   ")
    with pytest.raises(TextError, match="only punctuation"):
        voice.speak("... !")
    with pytest.raises(EspeakError, match="no voice 'zz-none'"):
        EspeakVoice(voice="zz-none")
    with pytest.raises(ValueError, match="rate must be 80..450"):
        EspeakVoice(rate=20)
    with pytest.raises(EspeakError, match="cannot load the espeak-ng library"):
        EspeakVoice(library_path="/nonexistent/libespeak-ng.so", data_path="/tmp")


def test_espeak_is_thread_safe(voice: EspeakVoice) -> None:
    """Two voices with different settings used from two threads keep their own settings."""
    text = "Two threads share one speech library."
    other = EspeakVoice(voice="en-us", rate=350)
    slow, fast = len(voice.synthesize(text)), len(other.synthesize(text))
    assert fast < 0.7 * slow
    results: dict[str, list[int]] = {"slow": [], "fast": []}

    def work() -> None:
        for _ in range(6):
            results["slow"].append(len(voice.synthesize(text)))
            results["fast"].append(len(other.synthesize(text)))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results["slow"]) == len(results["fast"]) == 12
    assert all(abs(n - slow) < 0.01 * slow for n in results["slow"])
    assert all(abs(n - fast) < 0.01 * fast for n in results["fast"])
