"""synth.acoustic.speech: texts through normalisation, sentences, one batched model call and
pauses into one mel each; seeds; the errors a user sees; the mel into a HiFi-GAN vocoder."""

from __future__ import annotations

import math

import pytest
import torch

from synth.acoustic import Speech, SpeechConfig, check_mel_pairing, hifigan_ljspeech_mel, text_to_mel
from synth.acoustic.tacotron2 import Tacotron2Acoustic
from synth.acoustic.tokens import CharacterTokenizer
from synth.text import TextError
from tests.synth.tacotron2_models import tiny_tacotron2
from vocoder.config import preset
from vocoder.errors import InputError
from vocoder.generator import hifigan_v3
from vocoder.inference import Vocoder

FLOOR = math.log(1e-5)


class Recording:
    """Wraps an acoustic model and records what each ``infer`` call was given."""

    def __init__(self, model) -> None:
        self.model, self.calls = model, []
        self.name, self.audio = model.name, model.audio

    def infer(self, sentences, seeds):
        self.calls.append((list(sentences), list(seeds)))
        return self.model.infer(sentences, seeds)


@pytest.fixture(scope="module")
def model() -> Tacotron2Acoustic:
    return Tacotron2Acoustic(tiny_tacotron2(frames=30), CharacterTokenizer(), hifigan_ljspeech_mel())


def test_sentences_are_normalised_batched_in_one_call_and_joined_with_pauses(model) -> None:
    recorder = Recording(model)
    speech = text_to_mel(recorder, ["It costs $5. Dr. Smith paid.\n\nNew paragraph.", "One more."],
                         seed=40)
    assert len(recorder.calls) == 1
    sentences, seeds = recorder.calls[0]
    assert sentences == ["It costs five dollars.", "Doctor Smith paid.", "New paragraph.",
                         "One more."]
    assert seeds == [40, 41, 42, 40]  # sentence j of each text: seed + j
    first = speech[0]
    assert isinstance(first, Speech) and first.seed == 40 and len(first.sentences) == 3
    sentence_pause, paragraph_pause = round(0.35 * 22050 / 256), round(0.7 * 22050 / 256)
    a, b, c = first.sentences
    assert first.starts == (0, a.frames + sentence_pause, a.frames + sentence_pause + b.frames
                            + paragraph_pause)
    assert first.mel.shape == (80, first.starts[2] + c.frames)
    assert torch.equal(first.mel[:, :a.frames], a.mel)
    assert torch.equal(first.mel[:, a.frames:first.starts[1]],
                       torch.full((80, sentence_pause), FLOOR))
    assert torch.equal(first.mel[:, first.starts[2]:], c.mel)  # no pause after the last one
    assert first.seconds == pytest.approx(first.mel.shape[1] * 256 / 22050)


def test_a_text_gives_the_same_mel_alone_or_with_others(model) -> None:
    texts = ["First text. It has two sentences.", "Second text, one sentence."]
    together = text_to_mel(model, texts, seed=3)
    for text, speech in zip(texts, together):
        alone = text_to_mel(model, [text], seed=3)[0]
        assert alone.starts == speech.starts
        torch.testing.assert_close(alone.mel, speech.mel, rtol=0, atol=1e-4)


def test_each_text_may_have_its_own_seed(model) -> None:
    recorder = Recording(model)
    texts = ["First text. It has two sentences.", "Second text, one sentence."]
    speech = text_to_mel(recorder, texts, seed=[7, 100])
    assert recorder.calls[0][1] == [7, 8, 100]  # sentence j of text i: its seed + j
    assert [s.seed for s in speech] == [7, 100]
    alone = text_to_mel(model, [texts[1]], seed=100)[0]
    torch.testing.assert_close(alone.mel, speech[1].mel, rtol=0, atol=1e-4)
    with pytest.raises(InputError, match="2 texts but 1 seeds"):
        text_to_mel(model, texts, seed=[7])
    with pytest.raises(InputError, match="seed must be an integer from 0"):
        text_to_mel(model, texts, seed=[7, -1])


def test_without_a_seed_one_is_chosen_and_recorded(model) -> None:
    first = text_to_mel(model, ["Hello there."])[0]
    assert 0 <= first.seed < 2**31
    again = text_to_mel(model, ["Hello there."], seed=first.seed)[0]
    assert torch.equal(first.mel, again.mel)


def test_max_sentence_chars_cuts_long_sentences_at_clauses(model) -> None:
    recorder = Recording(model)
    long = "This sentence has a first part, a second part that is long, and a third part."
    speech = text_to_mel(recorder, [long], seed=0, config=SpeechConfig(max_sentence_chars=40))[0]
    assert [s.text for s in speech.sentences] == [
        "This sentence has a first part,", "a second part that is long,", "and a third part."]
    clause = round(0.15 * 22050 / 256)
    assert speech.starts[1] == speech.sentences[0].frames + clause


@pytest.mark.parametrize("texts, message", [
    ([""], "nothing to speak: the text is empty or only punctuation"),
    (["Fine.", " ... !? "], "text 2: nothing to speak"),
    (["x" * 5001], "5,001 characters is more than the 5,000 read at once"),
    (["Здравствуйте."], "English letters only"),
])
def test_text_errors_are_one_clear_line(model, texts, message) -> None:
    with pytest.raises(TextError, match=message) as caught:
        text_to_mel(model, texts, seed=0)
    assert "\n" not in str(caught.value) and isinstance(caught.value, InputError)


@pytest.mark.parametrize("seed", [-1, 2**63, 1.5, True, "7"])
def test_bad_seeds_are_refused(model, seed) -> None:
    with pytest.raises(InputError, match="seed must be an integer from 0 to"):
        text_to_mel(model, ["Hi."], seed=seed)


def test_a_seed_at_the_top_of_the_range_is_refused_for_many_sentences(model) -> None:
    with pytest.raises(InputError, match="too large for 2 sentences"):
        text_to_mel(model, ["One. Two."], seed=2**63 - 1)
    with pytest.raises(TypeError, match="not one string"):
        text_to_mel(model, "One.", seed=0)


def test_the_mel_feeds_a_hifigan_vocoder(model) -> None:
    config = preset("v3")
    check_mel_pairing(model, config.audio, "HiFi-GAN V3")
    torch.manual_seed(0)
    vocoder = Vocoder(hifigan_v3(), config, device="cpu")
    speech = text_to_mel(model, ["Hello. Goodbye."], seed=1)[0]
    audio = vocoder.synthesize(speech.mel)
    assert audio.shape == (speech.mel.shape[1] * 256,)
    assert audio.dtype.name == "float32" and abs(audio).max() <= 1.0
