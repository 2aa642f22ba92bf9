"""Synthesizer.speak with an acoustic model: tiny random Tacotron2 -> a mel vocoder whose mel
fits (checked before anything runs), seeds, the default (Tacotron2 only when its weights are
here, else the espeak-ng base voice), and Tacotron2 speech converted into a voice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from synth.acoustic import DecoderStopError, MelMismatchError, check_mel_pairing, text_to_mel
from synth.hub import ModelSpec
from synth.models import ModelCache, ModelRegistry
from synth.pipeline import ESPEAK_LABEL, PipelineError
from tests.conftest import speechlike, write_wav
from tests.synth.pipeline_models import (make_synth, registry_file, save_tiny_mel_vocoder,
                                         save_tiny_vc_models)
from tests.synth.tacotron2_models import (acoustic_entry, save_tiny_ljspeech_vocoder,
                                          save_tiny_tacotron2, tiny_ljspeech_config)
from tests.vocoder.families.layouts import espnet_files, speechbrain_files
from vocoder.mel import CoquiMel, DbNormalization

TEXT = "Hello world, this is a test. A second sentence follows."
HOP = 256


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tts")
    return {"t2": save_tiny_tacotron2(root / "t2.pth"),
            "never": save_tiny_tacotron2(root / "never.pth", frames=None),
            "voc": save_tiny_ljspeech_vocoder(root / "lj"),
            "voc16k": save_tiny_mel_vocoder(root / "v16k"),
            "root": root}


@pytest.fixture(scope="module")
def synth(models):
    return make_synth(models["voc"], acoustic=str(models["t2"]))


def test_tacotron2_through_the_vocoder(synth, models) -> None:
    result = synth.speak(TEXT, seed=11)
    model = synth.acoustic_model()
    (speech,) = text_to_mel(model, [TEXT], 11)
    assert result.acoustic == "t2.pth" and result.sample_rate == 22050
    assert torch.equal(result.mel, speech.mel) and result.speech.seed == 11
    assert len(result.speech.sentences) == 2 and result.speech.starts[0] == 0
    assert result.audio.shape == (speech.mel.shape[1] * HOP,)
    # exactly what the vocoder makes of that mel, alone
    np.testing.assert_array_equal(result.audio, synth.vocode(speech.mel).audio)
    # the same seed gives the same audio; another seed another mel
    np.testing.assert_array_equal(synth.speak(TEXT, seed=11).audio, result.audio)
    assert not torch.equal(synth.speak(TEXT, seed=12).mel, result.mel)
    # no seed: a new one, recorded
    assert 0 <= synth.speak("Hello.").speech.seed < 2**31


def test_speak_many_gives_each_text_its_seed(synth) -> None:
    texts = ["Hello world.", "Another text, a little longer than the first."]
    many = synth.speak_many(texts, seed=[5, 9])
    for text, seed, result in zip(texts, [5, 9], many):
        alone = synth.speak(text, seed=seed)
        assert result.speech.seed == seed
        assert torch.allclose(result.mel, alone.mel, atol=1e-5)  # batched: float rounding


def test_acoustic_chosen_per_call_and_the_base_voice(synth, models) -> None:
    base = synth.speak(TEXT, acoustic="espeak")
    assert base.acoustic == ESPEAK_LABEL and base.speech is None
    assert base.mel is not None and base.audio.shape == (base.mel.shape[1] * HOP,)
    spec = ModelSpec.make("acoustic_model", models["t2"])
    assert synth.speak("Hello.", acoustic=spec, seed=1).acoustic == "t2.pth"
    assert synth.speak("Hello.", acoustic=synth.acoustic_model(), seed=1).acoustic == "t2.pth"
    with pytest.raises(PipelineError, match="t2.pth makes mels: it needs a mel vocoder, not "
                                            "'none'"):
        synth.speak("Hello.", vocoder="none")
    with pytest.raises(PipelineError, match="texts must be a list of strings"):
        synth.speak_many("Hello.")


def test_the_default_is_tacotron2_only_when_its_weights_are_here(models, tmp_path,
                                                                model_server) -> None:
    model_server.files["/t2.pth"] = models["t2"].read_bytes()
    registry = ModelRegistry.load(registry_file(tmp_path, [
        acoustic_entry("tacotron2-characters-ljspeech", model_server.url("t2.pth"))]))
    cache = ModelCache(registry, tmp_path / "home", progress=False)
    synth = make_synth(models["voc"], cache=cache)  # acoustic "auto"
    assert synth.pick_acoustic() == "espeak"
    result = synth.speak("Hello.")
    assert result.acoustic == ESPEAK_LABEL and model_server.requests == []  # nothing fetched
    cache.download("tacotron2-characters-ljspeech")
    spec = ModelSpec.make("acoustic_model", "tacotron2-characters-ljspeech")
    assert synth.pick_acoustic() == spec and synth.pick_acoustic(vocoder="none") == "espeak"
    result = synth.speak("Hello.", seed=3)
    assert result.acoustic == "tacotron2-characters-ljspeech" and result.speech.seed == 3
    assert synth.describe()["loaded"][:2] == ["vocoder", "acoustic"]
    # the vocoder "none" means the base voice as it is
    assert synth.speak("Hello.", vocoder="none").acoustic == ESPEAK_LABEL


def test_vocoders_of_another_mel_are_refused_before_anything_runs(synth, models,
                                                                   tmp_path) -> None:
    calls = []
    model = synth.acoustic_model()
    original = model.infer
    model.infer = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        # another STFT and mel bands (16 kHz, hop 64, 20 mels)
        with pytest.raises(MelMismatchError) as caught:
            synth.speak(TEXT, vocoder=str(models["voc16k"]), seed=1)
        assert ("t2.pth makes mels of 22050 Hz, n_fft 1024, hop 256, window 1024, 80 mels, "
                "0-8000 Hz, but g_00000001 was trained on 16000 Hz, n_fft 256, hop 64, window "
                "256, 20 mels, 0-8000 Hz (sampling_rate, n_fft, hop_size, win_size, num_mels "
                "differ)") in str(caught.value)
        # ESPnet's log10 mel with the very same STFT settings
        espnet, _ = espnet_files(tmp_path / "espnet", tiny_ljspeech_config())
        with pytest.raises(MelMismatchError) as caught:
            synth.speak(TEXT, vocoder=str(espnet), seed=1)
        message = str(caught.value)
        assert ("t2.pth makes mels of natural log, floor 1e-05, but checkpoint-10steps.pkl "
                "takes espnet mels of another scale (log10, floor 1e-10)") in message
        assert "\n" not in message
        assert calls == []  # refused before Tacotron2 ran
    finally:
        model.infer = original
    # Coqui's dB mel with the same STFT settings
    coqui = CoquiMel(tiny_ljspeech_config().audio, DbNormalization())
    with pytest.raises(MelMismatchError, match=r"takes coqui mels of another scale \(dB \(20 \* "
                                               r"log10, floor 1e-08\), normalised to \[-4, 4\]\)"):
        check_mel_pairing(model, coqui, "coqui-hifigan-v2-ljspeech")
    # natural-log mels fit: SpeechBrain's (centred, torchaudio's), and Griffin-Lim of HiFi-GAN's
    brain, _ = speechbrain_files(tmp_path / "brain", tiny_ljspeech_config(), sample_rate=22050)
    for vocoder in (str(brain), "griffinlim"):
        result = synth.speak("Hello.", vocoder=vocoder, seed=2)
        assert result.sample_rate == 22050 and result.audio.shape == (result.mel.shape[1] * HOP,)


def test_a_decoder_that_never_stops_is_one_clear_error(models) -> None:
    synth = make_synth(models["voc"], acoustic=str(models["never"]))
    with pytest.raises(DecoderStopError) as caught:
        synth.speak("Hello world.", seed=1)
    message = str(caught.value)
    assert message.startswith("never.pth did not finish sentence 1 ('Hello world.'): no stop "
                              "after 340 frames (3.9 s), the most its 12 tokens can need")
    assert "try another seed" in message and "\n" not in message


@pytest.fixture(scope="module")
def vc_synth(models):
    directory = models["root"] / "vc"
    vc = save_tiny_vc_models(directory)
    cache = ModelCache(ModelRegistry.load(registry_file(directory, vc["entries"])),
                       directory / "home", progress=False)
    ref = write_wav(directory / "ref.wav", speechlike(2.0, 16000, seed=1), 16000)
    synth = make_synth(models["voc"], acoustic=str(models["t2"]), vc_vocoder="tiny-knnvc",
                       extractor="tiny-wavlm", cache=cache)
    return synth, ref


def test_tacotron2_speech_in_a_voice(vc_synth) -> None:
    synth, ref = vc_synth
    result = synth.speak(TEXT, voice=ref, seed=4)
    plain = synth.speak(TEXT, seed=4)
    assert result.sample_rate == 16000 and result.acoustic == "t2.pth"
    assert torch.equal(result.mel, plain.mel) and result.speech.seed == 4
    # the Tacotron2 speech, vocoded, is what kNN-VC converts
    converted = synth.convert((plain.audio, plain.sample_rate), ref)
    np.testing.assert_array_equal(result.audio, converted.audio)
    # the base voice converts its own audio (no mel is vocoded)
    base = synth.speak(TEXT, voice=ref, acoustic="espeak")
    assert base.acoustic == ESPEAK_LABEL and base.mel is None and base.sample_rate == 16000
