"""Text frontend: English normalisation, sentence splitting and the espeak-ng base voice.

- :func:`normalize_text` spells out what a speech synthesiser should not have to guess:
  numbers (integers, decimals, ordinals, years, decades, percentages, times, ranges),
  currency, common abbreviations and symbols, and tidies punctuation.
- :func:`split_sentences` cuts long text into sentences (and over-long sentences into
  clauses) and says how long a pause follows each.
- :class:`EspeakVoice` synthesises speech with the espeak-ng library shipped in the
  ``espeakng-loader`` wheel (no system package), called through :mod:`ctypes`:
  float32 audio in [-1, 1] at the library's rate (22050 Hz). :meth:`EspeakVoice.speak`
  normalises, splits, synthesises sentence by sentence and joins the pieces with pauses.
"""

from __future__ import annotations

import ctypes
import itertools
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from vocoder.errors import HifisynthError, InputError

from .audio import trim_silence


class TextError(InputError):
    """Text that cannot be spoken (empty after normalisation, ...)."""


class EspeakError(HifisynthError, RuntimeError):
    """The espeak-ng library is missing or failed; the message says what to do."""

    exit_code = 1


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ("", "thousand", "million", "billion", "trillion", "quadrillion", "quintillion")
_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                      "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}
_DIGIT_WORDS = dict(zip("0123456789", _ONES[:10]))


def number_to_words(n: int) -> str:
    """Cardinal number in words: ``1234 -> "one thousand two hundred thirty-four"``.

    Negative numbers get "minus"; numbers beyond the quintillions are read digit by digit.
    """
    if n < 0:
        return "minus " + number_to_words(-n)
    if n >= 1000 ** len(_SCALES):
        return digits_to_words(str(n))
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {number_to_words(rest)}" if rest else "")
    parts = []
    scale = 0
    while n:
        n, group = divmod(n, 1000)
        if group:
            parts.append(number_to_words(group) + (f" {_SCALES[scale]}" if scale else ""))
        scale += 1
    return " ".join(reversed(parts))


def ordinal_to_words(n: int) -> str:
    """Ordinal number in words: ``21 -> "twenty-first"``."""
    words = number_to_words(n)
    head, sep, last = words.rpartition("-") if "-" in words.split(" ")[-1] else words.rpartition(" ")
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def digits_to_words(digits: str) -> str:
    """Digit by digit: ``"007" -> "zero zero seven"``."""
    return " ".join(_DIGIT_WORDS[d] for d in digits if d in _DIGIT_WORDS)


def year_to_words(year: int) -> str:
    """A year as it is said: 1999 -> "nineteen ninety-nine", 2005 -> "two thousand five",
    1905 -> "nineteen oh five", 1900 -> "nineteen hundred", 2024 -> "twenty twenty-four"."""
    if year < 1000 or year >= 10000 or year % 1000 < 10:  # 2000-2009: "two thousand five"
        return number_to_words(year)
    high, low = divmod(year, 100)
    if low == 0:
        return f"{number_to_words(high)} hundred"
    if low < 10:
        return f"{number_to_words(high)} oh {_ONES[low]}"
    return f"{number_to_words(high)} {number_to_words(low)}"


def _decade_to_words(year_words: str) -> str:
    """"nineteen ninety" -> "nineteen nineties"; "eighty" -> "eighties"."""
    head, sep, last = year_words.rpartition(" ")
    if last.endswith("y"):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return head + sep + last


def _decimal_to_words(integer: str, fraction: str) -> str:
    whole = number_to_words(int(integer)) if integer else ""
    return (whole + " point " if whole else "point ") + digits_to_words(fraction)


def _integer_to_words(digits: str) -> str:
    """Integer from a digit string; leading zeros or very long strings are read digit by digit."""
    if len(digits) > 1 and digits.startswith("0") or len(digits) > 15:
        return digits_to_words(digits)
    return number_to_words(int(digits))


# --------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------

_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", "sen", "sen"),
}
_MAGNITUDES = {"thousand": "thousand", "million": "million", "billion": "billion",
               "trillion": "trillion", "k": "thousand", "K": "thousand", "m": "million",
               "M": "million", "bn": "billion", "B": "billion"}

# Titles read as words when followed by a name; (abbreviation, expansion).
_TITLES = {
    "Mr": "mister", "Mrs": "missus", "Ms": "miz", "Dr": "doctor", "Prof": "professor",
    "St": "saint", "Mt": "mount", "Capt": "captain", "Col": "colonel", "Gen": "general",
    "Lt": "lieutenant", "Sgt": "sergeant", "Rev": "reverend", "Hon": "honorable",
    "Gov": "governor", "Sen": "senator", "Rep": "representative", "Pres": "president",
    "Fr": "father", "Sr": "senior", "Jr": "junior",
}
# Read as words wherever they appear (with their period).
_ABBREVIATIONS = {
    "etc": "et cetera", "vs": "versus", "approx": "approximately", "Inc": "incorporated",
    "Ltd": "limited", "Co": "company", "Corp": "corporation", "Dept": "department",
    "Univ": "university", "Ave": "avenue", "Blvd": "boulevard", "Rd": "road",
    "Jan": "January", "Feb": "February", "Mar": "March", "Apr": "April", "Jun": "June",
    "Jul": "July", "Aug": "August", "Sep": "September", "Sept": "September",
    "Oct": "October", "Nov": "November", "Dec": "December", "est": "established",
    "min": "minutes", "hr": "hours", "hrs": "hours", "sec": "seconds",
}
# After a number: "5 km" -> "five kilometers" (singular after "one").
_UNITS = {
    "km": ("kilometer", "kilometers"), "m": ("meter", "meters"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"),
    "mg": ("milligram", "milligrams"), "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"), "ml": ("milliliter", "milliliters"), "l": ("liter", "liters"),
    "mph": ("mile per hour", "miles per hour"), "km/h": ("kilometer per hour", "kilometers per hour"),
    "kHz": ("kilohertz", "kilohertz"), "Hz": ("hertz", "hertz"), "ms": ("millisecond", "milliseconds"),
    "GB": ("gigabyte", "gigabytes"), "MB": ("megabyte", "megabytes"), "KB": ("kilobyte", "kilobytes"),
    "TB": ("terabyte", "terabytes"),
}
_FRACTIONS = {2: ("half", "halves"), 4: ("quarter", "quarters")}

_PUNCT_MAP = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
    "\u2013": "-", "\u2014": " - ", "\u2015": " - ", "\u2212": "-", "\u2026": "...",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ",
})

_INT = r"\d{1,3}(?:,\d{3})+|\d+"  # 1,234,567 or 1234567


def _money(match: re.Match) -> str:
    symbol, integer, fraction, magnitude = match.group(1, 2, 3, 4)
    one, many, cent, cents = _CURRENCIES[symbol]
    integer = (integer or "").replace(",", "")
    if magnitude:
        magnitude = _MAGNITUDES[magnitude]
        amount = _decimal_to_words(integer, fraction) if fraction else _integer_to_words(integer)
        return f"{amount} {magnitude} {many}"
    if fraction and len(fraction) > 2:
        return f"{_decimal_to_words(integer, fraction)} {many}"
    units = int(integer) if integer else 0
    subunits = int(fraction.ljust(2, "0")) if fraction else 0
    parts = []
    if units or not subunits:
        parts.append(f"{number_to_words(units)} {one if units == 1 else many}")
    if subunits:
        parts.append(f"{number_to_words(subunits)} {cent if subunits == 1 else cents}")
    return " and ".join(parts)


def _time(match: re.Match) -> str:
    hours, minutes, meridiem = int(match.group(1)), int(match.group(2)), match.group(3)
    if minutes == 0:
        words = f"{number_to_words(hours)} o'clock" if not meridiem else number_to_words(hours)
    elif minutes < 10:
        words = f"{number_to_words(hours)} oh {_ONES[minutes]}"
    else:
        words = f"{number_to_words(hours)} {number_to_words(minutes)}"
    if meridiem:
        words += " " + " ".join(meridiem.replace(".", "").upper())
    return words


def _fraction(match: re.Match) -> str:
    num, den = int(match.group(1)), int(match.group(2))
    if den == 0:
        return f"{number_to_words(num)} over zero"
    if den in _FRACTIONS:
        name = _FRACTIONS[den][0 if num == 1 else 1]
    elif 2 < den < 20 or den % 10 == 0 and den < 100:
        name = ordinal_to_words(den) + ("" if num == 1 else "s")
    else:
        return f"{number_to_words(num)} over {number_to_words(den)}"
    return f"{number_to_words(num)} {name}"


def _number(match: re.Match) -> str:
    sign, integer, fraction = match.group(1, 2, 3)
    grouped = "," in integer
    integer = integer.replace(",", "")
    prefix = "minus " if sign else ""
    if fraction is not None:
        return prefix + _decimal_to_words(integer, fraction)
    if (not sign and not grouped and len(integer) == 4 and not integer.startswith("0")
            and 1100 <= int(integer) <= 2099):
        return year_to_words(int(integer))
    return prefix + _integer_to_words(integer)


def _unit(match: re.Match) -> str:
    number, unit = match.group(1), match.group(2)
    singular, plural = _UNITS[unit]
    return f"{number} {singular if number.replace(',', '') == '1' else plural}"


def _abbreviation(match: re.Match, table: dict[str, str], title: bool) -> str:
    word, rest = match.group(1), match.string[match.end():]
    expansion = table[word]
    if title and word in ("Dr", "St"):  # "Dr. Smith" / "Elm Dr." ; "St. Paul" / "Main St."
        preceded_by_name = re.search(r"[A-Z][a-z]+\s+$", match.string[:match.start()])
        if preceded_by_name or not re.match(r"\s+[A-Z]", rest):
            expansion, title = {"Dr": "drive", "St": "street"}[word], False
    follower = re.match(r"\s*(\S?)", rest).group(1)
    ends_sentence = follower == "" or (not title and follower[:1].isupper())
    return expansion + ("." if ends_sentence else "")


def normalize_text(text: str) -> str:
    """English text as words a synthesiser can read.

    Numbers, currency, percentages, times, ordinals, years and decades, simple fractions,
    ranges, units after numbers, common abbreviations and symbols are spelled out; quotes,
    brackets and dashes become plain punctuation; whitespace is collapsed. Line breaks are
    kept as single spaces (use :func:`split_sentences` for paragraphs).
    """
    text = unicodedata.normalize("NFKC", text).translate(_PUNCT_MAP)
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        return ""

    # Abbreviations that contain periods, before sentence punctuation is touched.
    text = re.sub(r"\b[eE]\.\s?[gG]\.", "for example", text)
    text = re.sub(r"\b[iI]\.\s?[eE]\.", "that is", text)
    text = re.sub(r"\b([aApP])\.[mM]\.(?=(\s+[A-Z]|\s*$)?)",
                  lambda m: m.group(1).upper() + "M" + ("." if m.group(2) is not None else ""),
                  text)
    text = re.sub(r"\b(?:U\.S\.A\.|USA)(?=\W|$)", "U S A", text)
    text = re.sub(r"\bU\.S\.(?=\W|$)", "U S", text)
    text = re.sub(r"\bNo\.\s?(?=\d)", "number ", text)
    text = re.sub(r"#\s?(?=\d)", "number ", text)
    for table, title in ((_TITLES, True), (_ABBREVIATIONS, False)):
        pattern = r"\b(" + "|".join(sorted(table, key=len, reverse=True)) + r")\.(?=\s|$|[,;:!?)])"
        text = re.sub(pattern, lambda m, t=table, ti=title: _abbreviation(m, t, ti), text)

    # Numbers, most specific patterns first.
    text = re.sub(r"([$£€¥])\s?(" + _INT + r")?(?:\.(\d+))?(?:\s?("
                  + "|".join(sorted(_MAGNITUDES, key=len, reverse=True)) + r")\b)?",
                  lambda m: _money(m) if (m.group(2) or m.group(3)) else m.group(0), text)
    text = re.sub(r"\b(\d{1,2}):(\d{2})(?:\s?([AaPp]\.?[Mm])(?!\w))?", _time, text)
    text = re.sub(r"\b(\d{1,2})\s?([AaPp]\.?[Mm])(?!\w)",
                  lambda m: f"{number_to_words(int(m.group(1)))} "
                            + " ".join(m.group(2).replace(".", "").upper()), text)
    text = re.sub(r"(\d+(?:\.\d+)?)\s?%", lambda m: f"{m.group(1)} percent", text)
    text = re.sub(r"(\d+(?:\.\d+)?)\s?°\s?([CF])\b",
                  lambda m: f"{m.group(1)} degrees "
                            + ("Celsius" if m.group(2) == "C" else "Fahrenheit"), text)
    text = re.sub(r"(\d+(?:\.\d+)?)\s?°", lambda m: f"{m.group(1)} degrees", text)
    text = re.sub(r"\b(" + _INT + r")(st|nd|rd|th)\b",
                  lambda m: ordinal_to_words(int(m.group(1).replace(",", ""))), text)
    text = re.sub(r"\b(1[1-9]|20)(\d)0'?s\b",
                  lambda m: _decade_to_words(year_to_words(int(m.group(1) + m.group(2) + "0"))),
                  text)
    text = re.sub(r"(?<![\w.])'?([2-9])0'?s\b",
                  lambda m: _decade_to_words(number_to_words(int(m.group(1)) * 10)), text)
    text = re.sub(r"(?<![\d/])\b(\d+)/(\d+)\b(?!/)", _fraction, text)
    text = re.sub(r"\b(\d+(?:\.\d+)?)\s?(" + "|".join(
        re.escape(u) for u in sorted(_UNITS, key=len, reverse=True)) + r")(?=\W|$)", _unit, text)
    text = re.sub(r"(?<=\d)\s?-\s?(?=\d)", " to ", text)  # 10-20 -> 10 to 20
    text = re.sub(r"(?<![\w.,])(-)?(" + _INT + r")(?:\.(\d+))?(?![\d])", _number, text)
    text = re.sub(r"(?<![\w])\.(\d+)", lambda m: _decimal_to_words("", m.group(1)), text)

    # Symbols.
    text = re.sub(r"\s*&\s*", " and ", text)
    text = re.sub(r"(?<=\w)@(?=\w)", " at ", text)
    text = re.sub(r"\s@\s", " at ", text)
    text = re.sub(r"\s?\+\s?", " plus ", text)
    text = re.sub(r"\s=\s", " equals ", text)
    text = re.sub(r"(?<=[A-Za-z])/(?=[A-Za-z])", " or ", text)  # and/or -> and or

    # Punctuation: brackets and dashes become pauses, other symbols go.
    text = re.sub(r"\s*[(\[{]\s*", ", ", text)
    text = re.sub(r"\s*[)\]}]\s*(?=[.,;:!?])", "", text)
    text = re.sub(r"\s*[)\]}]\s*", ", ", text)
    text = re.sub(r"\s+-+\s+|--+", ", ", text)
    text = re.sub(r"\.{3,}", "...", text)
    text = re.sub(r"[\"*_~^|<>\\`]", " ", text)
    text = re.sub(r"([!?])[!?]+", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"\s+([,;:.!?])", r"\1", text)
    text = re.sub(r"^[\s,;:.]+", "", text)
    text = re.sub(r"([,;:])(?=\S)", r"\1 ", text)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"[,;:]+$", ".", text)
    # Sentences start with a capital (expansions such as "saint", "five" may have lost it).
    text = re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)
    return text if re.search(r"\w", text) else ""  # punctuation alone says nothing


# --------------------------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sentence:
    """A piece of text to synthesise on its own, and the pause (seconds) after it."""

    text: str
    pause: float


SENTENCE_PAUSE = 0.35
PARAGRAPH_PAUSE = 0.7
CLAUSE_PAUSE = 0.15

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str, normalize: bool = True, max_chars: int = 300,
                    sentence_pause: float = SENTENCE_PAUSE,
                    paragraph_pause: float = PARAGRAPH_PAUSE,
                    clause_pause: float = CLAUSE_PAUSE) -> list[Sentence]:
    """Split text into sentences, each at most ``max_chars`` characters.

    Paragraphs (blank lines) end with ``paragraph_pause`` seconds, sentences with
    ``sentence_pause``; a sentence longer than ``max_chars`` is cut at clause punctuation
    (then at spaces), with ``clause_pause`` between the pieces. With ``normalize`` each
    paragraph goes through :func:`normalize_text` first. The last piece's pause is 0.
    """
    if max_chars < 20:
        raise ValueError(f"max_chars must be at least 20, got {max_chars}")
    pieces: list[Sentence] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = normalize_text(paragraph) if normalize else " ".join(paragraph.split())
        if not paragraph:
            continue
        sentences = [s.strip() for s in _split_on_sentence_ends(paragraph)
                     if re.search(r"\w", s)]
        for i, sentence in enumerate(sentences):
            chunks = list(_split_long(sentence, max_chars))
            chunks = [c for c in chunks if re.search(r"\w", c)]
            for j, chunk in enumerate(chunks):
                last_chunk = j == len(chunks) - 1
                pause = (clause_pause if not last_chunk
                         else sentence_pause if i < len(sentences) - 1 else paragraph_pause)
                pieces.append(Sentence(chunk, pause))
    if pieces:
        pieces[-1] = Sentence(pieces[-1].text, 0.0)
    return pieces


def _split_on_sentence_ends(paragraph: str) -> list[str]:
    out, start = [], 0
    for match in _SENTENCE_END.finditer(paragraph):
        before = paragraph[start:match.start()]
        if re.search(r"(?:^|\s)[A-Z]\.$", before):  # an initial: "J. R. R. Tolkien"
            continue
        out.append(paragraph[start:match.start()])
        start = match.end()
    out.append(paragraph[start:])
    return out


def _split_long(sentence: str, max_chars: int) -> Iterator[str]:
    while len(sentence) > max_chars:
        window = sentence[:max_chars + 1]
        cut = max((window.rfind(p) for p in (", ", "; ", ": ")), default=-1)
        if cut < max_chars // 3:
            cut = window.rfind(" ")
            if cut <= 0:
                cut = max_chars
            head, sentence = sentence[:cut].strip(), sentence[cut:].strip()
        else:
            head, sentence = sentence[:cut + 1].strip(), sentence[cut + 1:].strip()
        if head:
            yield head
    if sentence:
        yield sentence


# --------------------------------------------------------------------------------------------
# espeak-ng
# --------------------------------------------------------------------------------------------

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                   ctypes.c_void_p)


class _ProcessEspeak:
    """What libespeak-ng keeps per process: it has one voice, one parameter set and one
    synthesis callback for the whole process, so every use holds this lock, and the voice
    is re-selected only when another :class:`EspeakVoice` used the library last (selecting
    a voice leaks about 1 kB inside the library, so it is not done on every call)."""

    lock = threading.Lock()
    owner: int | None = None
    tokens = itertools.count(1)


class EspeakVoice:
    """An espeak-ng voice from the ``espeakng-loader`` wheel's library and data.

    Args:
        voice: espeak-ng voice name (``"en-us"``, ``"en"``, ``"en-gb-x-rp"``; variants as
            ``"en-us+f3"``).
        rate: speaking rate in words per minute (80..450; espeak's default 175).
        pitch: base pitch 0..100 (50 normal).  pitch_range: 0 (monotone) .. 100 (50 normal).
        volume: 0..200 (100 normal).
        library_path, data_path: override the wheel's ``libespeak-ng`` and ``espeak-ng-data``.

    Thread-safe: calls are serialised (the C library is process-global). The output rate is
    :attr:`sample_rate` (22050 Hz for espeak-ng). The same text gives very nearly, not exactly,
    the same samples on each call: espeak-ng carries waveform state (pitch flutter) from one
    utterance to the next, so lengths vary by a few samples.

    Raises:
        EspeakError: ``espeakng-loader`` missing, library not loadable, or unknown voice.
    """

    def __init__(self, voice: str = "en-us", rate: int = 175, pitch: int = 50,
                 pitch_range: int = 50, volume: int = 100, library_path: str | None = None,
                 data_path: str | None = None) -> None:
        if not 80 <= rate <= 450:
            raise ValueError(f"rate must be 80..450 words per minute, got {rate}")
        for name, value, hi in (("pitch", pitch, 100), ("pitch_range", pitch_range, 100),
                                ("volume", volume, 200)):
            if not 0 <= value <= hi:
                raise ValueError(f"{name} must be 0..{hi}, got {value}")
        if library_path is None or data_path is None:
            try:
                import espeakng_loader
            except ImportError:
                raise EspeakError("the espeak-ng base voice needs the 'espeakng-loader' "
                                  "package: pip install espeakng-loader") from None
            library_path = library_path or espeakng_loader.get_library_path()
            data_path = data_path or espeakng_loader.get_data_path()
        try:
            lib = ctypes.CDLL(library_path)
        except OSError as exc:
            raise EspeakError(f"{library_path}: cannot load the espeak-ng library ({exc})") from None
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        self._lib = lib
        self._data_path = str(data_path)
        self.voice = voice
        self.rate, self.pitch, self.pitch_range, self.volume = rate, pitch, pitch_range, volume
        self._chunks: list[np.ndarray] = []
        self._callback = _SYNTH_CALLBACK(self._on_audio)  # kept alive with the object
        self._token = next(_ProcessEspeak.tokens)
        with _ProcessEspeak.lock:
            self.sample_rate = self._initialize()
            _ProcessEspeak.owner = None
            self._select()

    def _initialize(self) -> int:
        sample_rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, self._data_path.encode(), _INITIALIZE_DONT_EXIT)
        if sample_rate <= 0:
            raise EspeakError(f"espeak-ng could not initialise with data at {self._data_path}")
        return int(sample_rate)

    def _select(self) -> None:
        """Make this voice the library's current one (caller holds the lock)."""
        if _ProcessEspeak.owner != self._token:
            if self._lib.espeak_SetVoiceByName(self.voice.encode()) != 0:
                raise EspeakError(f"espeak-ng has no voice {self.voice!r} (try 'en-us', 'en' "
                                  "or 'en-gb-x-rp')")
            _ProcessEspeak.owner = self._token
        for param, value in ((_PARAM_RATE, self.rate), (_PARAM_PITCH, self.pitch),
                             (_PARAM_RANGE, self.pitch_range), (_PARAM_VOLUME, self.volume)):
            self._lib.espeak_SetParameter(param, int(value), 0)
        self._lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav, num_samples: int, events) -> int:
        if wav and num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        return 0

    def synthesize(self, text: str) -> np.ndarray:
        """Speech for ``text`` as given (no normalisation): float32 ``(samples,)`` in [-1, 1]
        at :attr:`sample_rate`, including espeak's own short leading/trailing silence."""
        data = text.encode("utf-8")
        with _ProcessEspeak.lock:
            self._select()
            self._chunks = []
            try:
                status = self._lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0,
                                                _CHARS_UTF8, None, None)
                chunks, self._chunks = self._chunks, []
            finally:
                self._chunks = []
        if status != 0:
            raise EspeakError(f"espeak-ng failed to synthesise the text (error {status})")
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return (np.concatenate(chunks).astype(np.float32) / 32768.0)

    def speak(self, text: str, normalize: bool = True, max_chars: int = 300,
              sentence_pause: float = SENTENCE_PAUSE, paragraph_pause: float = PARAGRAPH_PAUSE,
              clause_pause: float = CLAUSE_PAUSE, edge_silence: float = 0.1
              ) -> tuple[np.ndarray, int]:
        """Text -> speech: normalised, split into sentences, each synthesised and trimmed of
        silence, joined with pauses, with ``edge_silence`` seconds at both ends.

        Returns:
            ``(audio, sample_rate)``: float32 ``(samples,)`` in [-1, 1], and Hz.

        Raises:
            TextError: nothing to say (empty or only punctuation).
        """
        sentences = split_sentences(text, normalize=normalize, max_chars=max_chars,
                                    sentence_pause=sentence_pause,
                                    paragraph_pause=paragraph_pause, clause_pause=clause_pause)
        sr = self.sample_rate
        pieces: list[np.ndarray] = [np.zeros(int(round(edge_silence * sr)), np.float32)]
        spoken = 0
        for sentence in sentences:
            audio = trim_silence(self.synthesize(sentence.text), sr, "threshold")
            if audio.size:
                spoken += 1
                pieces.append(audio)
            if sentence.pause > 0 and audio.size:
                pieces.append(np.zeros(int(round(sentence.pause * sr)), np.float32))
        if not spoken:
            raise TextError("nothing to speak: the text is empty or only punctuation"
                            if not sentences else f"nothing to speak in {text[:60]!r}")
        pieces.append(np.zeros(int(round(edge_silence * sr)), np.float32))
        return np.concatenate(pieces), sr


def speak(text: str, voice: str = "en-us", rate: int = 175, **kwargs) -> tuple[np.ndarray, int]:
    """One-off :meth:`EspeakVoice.speak` (keep an :class:`EspeakVoice` to say many things)."""
    return EspeakVoice(voice=voice, rate=rate).speak(text, **kwargs)
