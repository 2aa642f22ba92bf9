"""Texts -> one log-mel spectrogram each, through any :class:`~.interface.AcousticModel`.

Each text is normalised (:func:`synth.text.normalize_text`: numbers, dates, currency,
abbreviations) and split into sentences (:func:`synth.text.split_sentences`); the sentences
of all texts go to the model in one call, which batches them; each text's sentences are then
joined with silent frames for the pauses between them.

Seeds: sentence ``j`` of a text is decoded with seed ``seed + j`` (``seed``: the call's, or
that text's when each text has its own). A text's result thus depends only on the text and
its seed, not on the other texts, and a one-sentence text with seed ``N`` is what the model
gives for that sentence with seed ``N``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from synth.text import (CLAUSE_PAUSE, PARAGRAPH_PAUSE, SENTENCE_PAUSE, Sentence, TextError,
                        split_sentences)
from vocoder.chunking import LOG_FLOOR
from vocoder.config import AudioConfig
from vocoder.errors import InputError

from .interface import AcousticModel, SentenceMel

MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class SpeechConfig:
    """How texts become sentences and sentences one mel.

    Attributes:
        normalize: spell out numbers, currency, abbreviations... first.
        max_text_chars: longer texts are refused (a bound on the work one call does).
        max_sentence_chars: longer sentences are cut at clause punctuation, then at spaces
            (LJSpeech clips, what the published models learnt from, are at most about 10 s).
        sentence_pause, paragraph_pause, clause_pause: seconds of silence after a sentence,
            a paragraph (blank line) and a cut clause.
    """

    normalize: bool = True
    max_text_chars: int = 5000
    max_sentence_chars: int = 180
    sentence_pause: float = SENTENCE_PAUSE
    paragraph_pause: float = PARAGRAPH_PAUSE
    clause_pause: float = CLAUSE_PAUSE


@dataclass(frozen=True)
class Speech:
    """A text as one mel.

    Attributes:
        mel: float32 log-mel ``(num_mels, frames)`` on the CPU: the sentences' mels with
            silent frames (``log(1e-5)``) for the pauses between them.
        sentences: what the model made of each sentence (tokens, mel, attention alignment).
        starts: the frame at which each sentence starts in ``mel``.
        seed: the seed of the first sentence (sentence ``j`` used ``seed + j``).
        audio: the mel's settings (sample rate, hop, bands).
    """

    mel: Tensor
    sentences: tuple[SentenceMel, ...]
    starts: tuple[int, ...]
    seed: int
    audio: AudioConfig

    @property
    def seconds(self) -> float:
        """Duration the mel stands for."""
        return self.mel.shape[-1] * self.audio.hop_size / self.audio.sampling_rate

    @property
    def spelled(self) -> tuple[str, ...]:
        """Words spelled letter by letter because the model had no pronunciation for them."""
        return tuple(dict.fromkeys(w for s in self.sentences for w in s.spelled))


def new_seed() -> int:
    """A fresh random seed (31 bits, so it is easy to read back and type)."""
    return secrets.randbits(31)


def text_to_mel(model: AcousticModel, texts: Sequence[str],
                seed: int | Sequence[int] | None = None,
                config: SpeechConfig = SpeechConfig()) -> list[Speech]:
    """Texts -> one :class:`Speech` each (see the module docstring).

    Args:
        model: any acoustic model, loaded once.
        texts: English texts, any length up to ``config.max_text_chars``.
        seed: one for every text, or one per text; ``None`` picks one with
            :func:`new_seed` (recorded in each result).

    Raises:
        TextError: an empty text (or only punctuation), a text longer than
            ``config.max_text_chars``, or letters the model cannot read.
        InputError: a seed outside 0 .. 2**63 - 1.
        DecoderStopError: a sentence the model does not finish.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string")
    seed = new_seed() if seed is None else seed
    per_text = list(seed) if isinstance(seed, Sequence) else [seed] * len(texts)
    if len(per_text) != len(texts):
        raise InputError(f"{len(texts)} texts but {len(per_text)} seeds")
    for value in per_text:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
            raise InputError(f"seed must be an integer from 0 to {MAX_SEED}, got {value!r}")
    plans = [_sentences(text, k, len(texts), config) for k, text in enumerate(texts)]
    for value, plan in zip(per_text, plans):
        if value + len(plan) - 1 > MAX_SEED:
            raise InputError(f"seed {value} is too large for {len(plan)} sentences: the last "
                             f"sentence's seed would pass {MAX_SEED}")
    flat = [s.text for plan in plans for s in plan]
    seeds = [value + j for value, plan in zip(per_text, plans) for j in range(len(plan))]
    said = iter(model.infer(flat, seeds))
    return [_join([next(said) for _ in plan], [s.pause for s in plan], value, model.audio)
            for value, plan in zip(per_text, plans)]


def _sentences(text: str, index: int, count: int, config: SpeechConfig) -> list[Sentence]:
    where = f"text {index + 1}: " if count > 1 else ""
    if len(text) > config.max_text_chars:
        raise TextError(f"{where}{len(text):,} characters is more than the {config.max_text_chars:,} "
                        "read at once; split it into shorter texts")
    sentences = split_sentences(text, normalize=config.normalize,
                                max_chars=config.max_sentence_chars,
                                sentence_pause=config.sentence_pause,
                                paragraph_pause=config.paragraph_pause,
                                clause_pause=config.clause_pause)
    if not sentences:
        raise TextError(f"{where}nothing to speak: the text is empty or only punctuation")
    return sentences


def _join(said: list[SentenceMel], pauses: list[float], seed: int, audio: AudioConfig) -> Speech:
    pieces, starts, at = [], [], 0
    for sentence, pause in zip(said, pauses):
        starts.append(at)
        pieces.append(sentence.mel)
        silence = round(pause * audio.sampling_rate / audio.hop_size)
        if silence:
            pieces.append(torch.full((sentence.mel.shape[0], silence), LOG_FLOOR))
        at += sentence.frames + silence
    return Speech(torch.cat(pieces, dim=1), tuple(said), tuple(starts), seed, audio)


__all__ = ["MAX_SEED", "Speech", "SpeechConfig", "new_seed", "text_to_mel"]
