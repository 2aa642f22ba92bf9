"""synth.pipeline.Synthesizer with tiny models: every path, batching, Griffin-Lim, per-call
vocoders, loading through the hub, threads."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from synth.hub import ModelSpec
from synth.models import ModelCache, ModelKindError, ModelRegistry, ModelUnavailableError
from synth.pipeline import PipelineError, SynthConfig, SynthResult, Synthesizer, load_mel_file
from tests.conftest import speechlike, tiny_config, write_wav
from tests.synth.pipeline_models import (make_synth, registry_file, save_tiny_mel_vocoder,
                                         save_tiny_vc_models)
from vocoder.audio import AudioError, load_audio
from vocoder.config import AudioConfig
from vocoder.griffinlim import GriffinLimVocoder
from vocoder.inference import Vocoder
from vocoder.mel import MelSpectrogram

SR, HOP, MELS = 16000, 64, 20
HALF_LSB = 0.5 / 32767  # half a step of the 16-bit files the pipeline writes


@pytest.fixture(scope="module")
def vocoder_path(tmp_path_factory) -> Path:
    return save_tiny_mel_vocoder(tmp_path_factory.mktemp("voc"))


@pytest.fixture(scope="module")
def synth(vocoder_path) -> Synthesizer:
    return make_synth(vocoder_path)


def reference_vocoding(vocoder_path: Path, wav: np.ndarray) -> np.ndarray:
    """The same audio through the vocoder package directly: mel frontend, then Vocoder."""
    voc = Vocoder.from_checkpoint(vocoder_path, device="cpu")
    mel = MelSpectrogram(voc.config.audio)(torch.from_numpy(wav))
    return voc.synthesize(mel)


# ----------------------------------------------------------------------------- resynthesize

def test_resynthesize_file_array_and_tuple(synth, vocoder_path, tmp_path) -> None:
    wav = speechlike(0.6, SR)
    path = write_wav(tmp_path / "in.wav", wav, SR, subtype="FLOAT")
    from_file = synth.resynthesize(path)
    from_array = synth.resynthesize(wav, sample_rate=SR)
    from_tuple = synth.resynthesize((torch.from_numpy(wav), SR))
    assert isinstance(from_file, SynthResult) and from_file.sample_rate == SR
    assert from_file.audio.dtype == np.float32
    assert from_file.audio.shape == ((len(wav) // HOP) * HOP,)
    np.testing.assert_array_equal(from_file.audio, from_array.audio)
    np.testing.assert_array_equal(from_file.audio, from_tuple.audio)
    # Same samples as the vocoder package's own frontend + generator (the floor padding after
    # the end only reaches the last receptive field, and is within half a 16-bit step there).
    direct = reference_vocoding(vocoder_path, wav)
    assert np.abs(from_file.audio - direct)[: -20 * HOP].max() < HALF_LSB
    assert np.sqrt(np.mean(from_file.audio ** 2)) > 0.01  # audible, not silence


def test_integer_pcm_stereo_and_gradio_tuples(synth) -> None:
    wav = speechlike(0.5, SR)
    reference = synth.resynthesize(wav, sample_rate=SR).audio
    pcm16 = np.round(wav * 32768).astype(np.int16)
    stereo = np.stack([pcm16, pcm16], axis=1)  # (samples, channels), as Gradio gives it
    for audio in ((SR, pcm16), (pcm16, SR), (SR, stereo), (stereo.T.copy(), SR),
                  ((np.round(wav * 2**31 * 0.999)).astype(np.int32), SR)):
        got = synth.resynthesize(audio).audio
        assert np.abs(got - reference).max() < 1e-3  # 16-bit quantisation of the input
    unsigned = np.round(wav * 128 + 128).clip(0, 255).astype(np.uint8)
    assert np.corrcoef(synth.resynthesize(unsigned, sample_rate=SR).audio, reference)[0, 1] > 0.95


def test_resynthesize_resamples_to_the_vocoder_rate(synth) -> None:
    wav = speechlike(0.5, 22050)
    result = synth.resynthesize(wav, sample_rate=22050)
    assert result.sample_rate == SR
    assert result.audio.shape == ((8000 // HOP) * HOP,)  # 0.5 s at 16 kHz


def test_resynthesize_bad_input(synth, tmp_path) -> None:
    with pytest.raises(AudioError, match="needs its sample rate"):
        synth.resynthesize(speechlike(0.5, SR))
    with pytest.raises(PipelineError, match=r"too short: 50 samples.*at least 97"):
        synth.resynthesize(np.zeros(50, np.float32), sample_rate=SR)
    with pytest.raises(AudioError, match=r"expected mono audio \(samples,\) or a few channels, "
                                            r"got shape \(20, 800\)"):
        synth.resynthesize(np.zeros((20, 800), np.float32), sample_rate=SR)
    with pytest.raises(AudioError, match="sample rate 0 Hz is not usable"):
        synth.resynthesize(np.zeros(800, np.float32), sample_rate=0)
    with pytest.raises(AudioError, match="expected float or integer PCM samples, got bool"):
        synth.resynthesize(np.zeros(800, bool), sample_rate=SR)
    with pytest.raises(AudioError, match="NaN"):
        synth.resynthesize(np.full(800, np.nan, np.float32), sample_rate=SR)
    with pytest.raises(AudioError, match="missing.wav: audio file not found"):
        synth.resynthesize(tmp_path / "missing.wav")


# ----------------------------------------------------------------------------- vocode

def test_vocode_arrays_and_npy_files(synth, tmp_path) -> None:
    mel = synth.mel(speechlike(0.6, SR)).numpy()
    assert mel.shape == (MELS, int(0.6 * SR) // HOP)
    out = synth.vocode(mel)
    assert out.sample_rate == SR and out.audio.shape == (mel.shape[1] * HOP,)
    np.testing.assert_array_equal(synth.vocode(mel[None]).audio, out.audio)
    np.save(tmp_path / "mel.npy", mel)
    np.testing.assert_array_equal(synth.vocode(tmp_path / "mel.npy").audio, out.audio)
    assert np.array_equal(load_mel_file(tmp_path / "mel.npy"), mel)


def test_vocode_errors_name_the_problem(synth, tmp_path) -> None:
    mel = synth.mel(speechlike(0.3, SR)).numpy()
    with pytest.raises(PipelineError, match=r"got \(75, 20\) \(it looks transposed"):
        synth.vocode(mel.T)
    with pytest.raises(PipelineError, match=r"expected an array of shape \(20, frames\)"):
        synth.vocode(np.zeros((80, 10), np.float32))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(PipelineError, match="refused: not a plain .npy array"):
        synth.vocode(tmp_path / "objects.npy")
    (tmp_path / "fake.npy").write_bytes(b"RIFF....WAVE")
    with pytest.raises(PipelineError, match="fake.npy: not a .npy file"):
        synth.vocode(tmp_path / "fake.npy")
    with pytest.raises(PipelineError, match="nothing.npy: mel file not found"):
        synth.vocode(tmp_path / "nothing.npy")


# ----------------------------------------------------------------------------- batching

def test_batched_vocoding_equals_one_at_a_time(synth) -> None:
    """Padded batches (and chunked long mels) give one-by-one output within half a 16-bit step.

    The tolerance is float32 summation order in batched convolutions; anything the padding
    changed would show up as differences of order 1e-3..1e-1 at the ends (checked below)."""
    rng = np.random.default_rng(0)
    base = synth.mel(speechlike(2.5, SR))
    lengths = [3, 17, 40, 41, 129, 500]
    mels = [base[:, s:s + n] for s, n in zip(rng.integers(0, 20, len(lengths)), lengths)]
    alone = [synth.vocode_frames([m])[0] for m in mels]
    together = synth.vocode_frames(mels)
    small_batches = synth.vocode_frames(mels, max_batch_frames=200, max_batch_size=3)
    for m, a, b, c in zip(mels, alone, together, small_batches):
        assert a.shape == b.shape == c.shape == (m.shape[1] * HOP,)
        assert np.abs(a - b).max() < HALF_LSB
        assert np.abs(a - c).max() < HALF_LSB

    # Chunking a long mel into pieces with context gives the whole-mel output.
    whole = make_synth(synth.mel_vocoder(), chunk_frames=10_000)
    piecewise = make_synth(synth.mel_vocoder(), chunk_frames=97)
    long_mel = base[:, :600]
    np.testing.assert_allclose(piecewise.vocode_frames([long_mel])[0],
                               whole.vocode_frames([long_mel])[0], atol=HALF_LSB, rtol=0)


# ----------------------------------------------------------------------------- speak

def test_speak_through_the_vocoder(synth) -> None:
    base, base_sr = synth.base_speech("Hello there.")
    assert base_sr == 22050
    short = synth.speak("Hello there.")
    assert short.sample_rate == SR
    expected = round(len(base) * SR / base_sr)
    assert abs(len(short.audio) - expected) <= HOP + 10  # frames * hop, a few samples of espeak jitter
    assert np.sqrt(np.mean(short.audio ** 2)) > 0.01

    long = synth.speak("Hello there. This is the second sentence, a little longer.\n\n"
                       "And a new paragraph, 3 words.")
    assert long.seconds > 2 * short.seconds
    # Sentences are joined with pauses: the base voice has runs of digital silence.
    base_long, _ = synth.base_speech("Hello there. This is the second sentence.")
    silent = np.abs(base_long) < 1e-4
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, silent.astype(int), 0])))[::2]
    assert runs.max() >= 0.3 * base_sr  # the 0.35 s sentence pause


def test_speak_many_batches_like_speak(synth) -> None:
    texts = ["One.", "Two words here.", "A third, much longer sentence with 25 syllables or so."]
    many = synth.speak_many(texts)
    assert [r.sample_rate for r in many] == [SR] * 3
    assert many[0].seconds < many[1].seconds < many[2].seconds
    from synth.text import TextError

    with pytest.raises(TextError, match="nothing to speak"):
        synth.speak("...")


def test_no_vocoder_returns_the_base_voice() -> None:
    plain = make_synth("none")
    result = plain.speak("Hello there.")
    base, sr = plain.base_speech("Hello there.")
    assert result.sample_rate == sr == plain.sample_rate == 22050
    assert abs(len(result.audio) - len(base)) < 50
    with pytest.raises(PipelineError, match="no mel vocoder is selected"):
        plain.resynthesize(speechlike(0.5, SR), sample_rate=SR)


# ----------------------------------------------------------------------------- Griffin-Lim

def test_griffinlim_only_by_name(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HIFISYNTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HIFISYNTH_OFFLINE", "1")
    default = Synthesizer.from_pretrained(device="cpu")
    with pytest.raises(ModelUnavailableError) as info:
        default.speak("Hello.")
    message = str(info.value)
    assert "hifigan-v3-ljspeech" in message and "place the file by hand" in message
    assert info.value.models == ("hifigan-v3-ljspeech",) and info.value.kinds == ("mel_vocoder",)
    assert info.value.offline
    # Library messages name no command or option; the front ends add their own hints.
    assert "--vocoder" not in message and "synth models" not in message
    assert "vocoder" not in default.describe()["loaded"]

    gl = Synthesizer.from_pretrained("griffinlim", device="cpu", griffinlim_iters=4)
    result = gl.speak("Hello.")
    assert result.sample_rate == 22050 and isinstance(gl.mel_vocoder(), GriffinLimVocoder)
    assert gl.mel_vocoder().audio == AudioConfig()  # the published mel settings
    assert gl.mel_vocoder().n_iter == 4
    assert np.sqrt(np.mean(result.audio ** 2)) > 0.01
    # Griffin-Lim per call, while the default vocoder stays missing.
    per_call = default.speak("Hello.", vocoder="griffinlim")
    assert per_call.sample_rate == 22050 and default.sample_rate_of("griffinlim") == 22050


# ----------------------------------------------------------------------------- loading

def test_models_by_registry_name(tmp_path, vocoder_path) -> None:
    (tmp_path / "tiny.json").write_text((vocoder_path.parent / "config.json").read_text())
    registry = ModelRegistry.load(registry_file(tmp_path, [
        {"name": "tiny-voc", "kind": "mel_vocoder", "filename": "g.pt",
         "urls": [vocoder_path.as_uri()], "config": "tiny.json"},
        {"name": "tiny-fvoc", "kind": "feature_vocoder", "filename": "f.pt",
         "urls": [(tmp_path / "absent.pt").as_uri()], "config": "tiny.json"},
    ]))
    cache = ModelCache(registry, tmp_path / "home", progress=False)
    named = make_synth("tiny-voc", cache=cache)
    wav = speechlike(0.5, SR)
    np.testing.assert_array_equal(named.resynthesize(wav, sample_rate=SR).audio,
                                  make_synth(vocoder_path).resynthesize(wav, sample_rate=SR).audio)
    assert (tmp_path / "home" / "models" / "tiny-voc" / "g.pt").is_file()
    with pytest.raises(ModelKindError, match="'tiny-fvoc' is a feature vocoder, not a mel vocoder"):
        make_synth("tiny-fvoc", cache=cache).mel_vocoder()
    assert not (tmp_path / "home" / "models" / "tiny-fvoc").exists()  # refused before fetching
    with pytest.raises(Exception, match="unknown model 'tiny-vok': did you mean 'tiny-voc'"):
        make_synth("tiny-vok", cache=cache).mel_vocoder()


def test_feature_vocoder_file_is_refused_as_mel_vocoder(tmp_path) -> None:
    from tests.synth.pipeline_models import tiny_generator
    from vocoder.checkpoint import save_generator

    cfg = tiny_config(input_dim=32)
    save_generator(tmp_path / "f.pt", tiny_generator(cfg), cfg)
    with pytest.raises(ModelKindError, match="feature-input .* cannot vocode mels"):
        make_synth(tmp_path / "f.pt").mel_vocoder()


def test_device_and_dtype(vocoder_path) -> None:
    with pytest.raises(ValueError, match="float16 needs a GPU"):
        make_synth(vocoder_path, dtype="float16")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            make_synth(vocoder_path, device="cuda")
    assert make_synth(vocoder_path, device="auto").device.type == (
        "cuda" if torch.cuda.is_available() else "cpu")
    bf16 = make_synth(vocoder_path, dtype="bfloat16")
    f32 = make_synth(vocoder_path)
    wav = speechlike(0.5, SR)
    a = bf16.resynthesize(wav, sample_rate=SR).audio
    b = f32.resynthesize(wav, sample_rate=SR).audio
    assert bf16.mel_vocoder().dtype == torch.bfloat16 and np.isfinite(a).all()
    assert np.corrcoef(a, b)[0, 1] > 0.95  # same sound, bfloat16 rounding


def test_loaded_once_and_thread_safe(vocoder_path, monkeypatch) -> None:
    import vocoder.checkpoint

    loads = []
    original = vocoder.checkpoint.load_vocoder

    def counting(*args, **kwargs):
        loads.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(vocoder.checkpoint, "load_vocoder", counting)
    synth = make_synth(vocoder_path)
    inputs = [speechlike(0.3 + 0.1 * i, SR, seed=i) for i in range(6)]
    alone = make_synth(vocoder_path)  # another hub: the same vocoder, loaded on its own
    expected = [alone.resynthesize(w, sample_rate=SR).audio for w in inputs]
    loads.clear()
    results: dict[int, np.ndarray] = {}
    barrier = threading.Barrier(len(inputs))

    def work(i: int) -> None:
        barrier.wait()
        results[i] = synth.resynthesize(inputs[i], sample_rate=SR).audio
        synth.speak("Thread safety.")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1
    for i, want in enumerate(expected):
        np.testing.assert_array_equal(results[i], want)


def test_result_save_and_describe(synth, tmp_path) -> None:
    result = synth.resynthesize(speechlike(0.5, SR), sample_rate=SR)
    result.save(tmp_path / "out.wav")
    wav, sr = load_audio(tmp_path / "out.wav")
    assert sr == SR and len(wav) == len(result.audio)
    assert np.abs(wav - np.clip(result.audio, -1, 1)).max() <= 1 / 32767 + 1e-7
    info = synth.describe()
    assert info["device"] == "cpu" and info["dtype"] == "float32"
    assert info["loaded"][:1] == ["vocoder"] and info["model_bytes"] > 0
    json.dumps(info)


# ----------------------------------------------------------------------------- voice conversion

@pytest.fixture(scope="module")
def vc_models(tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("vc")
    models = save_tiny_vc_models(directory)
    registry = ModelRegistry.load(registry_file(directory, models["entries"]))
    models["cache"] = ModelCache(registry, directory / "home", progress=False)
    models["ref"] = write_wav(directory / "refs" / "ref.wav", speechlike(2.0, SR, seed=1), SR)
    models["src"] = write_wav(directory / "src.wav", speechlike(1.0, 22050, seed=2), 22050)
    return models


@pytest.fixture(scope="module")
def vc_synth(vc_models, vocoder_path) -> Synthesizer:
    """Models by registry name: the cache fetches them (file:// URLs) on first use."""
    return make_synth(vocoder_path, vc_vocoder="tiny-knnvc", extractor="tiny-wavlm",
                      cache=vc_models["cache"])


def test_convert_with_references_and_saved_voices(vc_synth, vc_models, tmp_path) -> None:
    from synth.audio import integrated_loudness

    src, ref = vc_models["src"], vc_models["ref"]
    result = vc_synth.convert(src, [ref])
    frames = (SR - 400) // 320 + 1  # 1 s of source at 16 kHz -> WavLM frames
    assert result.sample_rate == SR and result.audio.shape == (frames * 320,)
    assert integrated_loudness(result.audio, SR) == pytest.approx(-16.0, abs=0.5)
    # The same voice given as one clip, a folder, or a matching set gives the same audio.
    for voice in (ref, ref.parent, vc_synth.make_voice([ref])):
        np.testing.assert_array_equal(vc_synth.convert(src, voice).audio, result.audio)
    saved = vc_synth.save_voice([ref], tmp_path / "me.pt")
    assert (saved.model, saved.layer, saved.sources) == ("tiny-wavlm", 2, [str(ref)])
    from_file = vc_synth.convert(src, tmp_path / "me.pt").audio
    assert np.abs(from_file - result.audio).max() < 0.02  # the file stores float16 features
    wav, sr = load_audio(src)
    np.testing.assert_array_equal(vc_synth.convert(wav, [ref], sample_rate=sr).audio, result.audio)
    assert vc_synth.convert(src, [ref], k=1).audio.shape == result.audio.shape


def test_speak_in_a_voice(vc_synth, vc_models, tmp_path) -> None:
    vc_synth.save_voice(vc_models["ref"], tmp_path / "me.pt")
    result = vc_synth.speak("Hello there. Second sentence.", voice=tmp_path / "me.pt")
    base, sr = vc_synth.base_speech("Hello there. Second sentence.")
    assert result.sample_rate == SR
    assert abs(result.seconds - len(base) / sr) < 0.05
    assert np.sqrt(np.mean(result.audio ** 2)) > 0.01


def test_voice_errors_and_cache(vc_synth, vc_models, tmp_path) -> None:
    from synth.knnvc import MatchingSet, MatchingSetError

    from synth.voices import VoiceError

    with pytest.raises(VoiceError, match="nobody.wav: voice not found"):
        vc_synth.convert(vc_models["src"], tmp_path / "nobody.wav")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(VoiceError, match="notes.txt: not a voice"):
        vc_synth.convert(vc_models["src"], tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VoiceError, match="no audio files in the voice folder"):
        vc_synth.make_voice(tmp_path / "empty")
    other = vc_synth.make_voice(vc_models["ref"])
    MatchingSet(other.features, model="WAVLM_LARGE", layer=6).save(tmp_path / "other.pt")
    with pytest.raises(MatchingSetError, match="made with model 'WAVLM_LARGE'.*layer 6"):
        vc_synth.convert(vc_models["src"], tmp_path / "other.pt")

    vc_synth.save_voice(vc_models["ref"], tmp_path / "v.pt")
    first = vc_synth.load_voice(tmp_path / "v.pt")
    assert vc_synth.load_voice(tmp_path / "v.pt") is first  # kept
    vc_synth.save_voice(vc_models["ref"], tmp_path / "v.pt")  # replaced: read again
    assert vc_synth.load_voice(tmp_path / "v.pt") is not first


def test_vc_models_by_path_and_kind_checks(vc_synth, vc_models, tmp_path) -> None:
    from synth.features import load_extractor
    from tests.synth.tiny import tiny_params

    # Files instead of registry names: the architecture as a JSON file of factory arguments.
    arch = tmp_path / "tiny-wavlm.json"
    arch.write_text(json.dumps(dict(tiny_params("wavlm"), model_type="wavlm")))
    by_path = make_synth("none", vc_vocoder=vc_models["vc_vocoder"],
                         extractor=vc_models["extractor"], extractor_arch=arch, layer=2)
    expected = vc_synth.convert(vc_models["src"], vc_models["ref"]).audio
    np.testing.assert_array_equal(by_path.convert(vc_models["src"], vc_models["ref"]).audio,
                                  expected)
    # A ready extractor held by the hub under a name of one's own.
    extractor = load_extractor(dict(tiny_params("wavlm"), model_type="wavlm"),
                               vc_models["extractor"], name="tiny-wavlm")
    given = make_synth("none", vc_vocoder=vc_models["vc_vocoder"], extractor="mine", layer=2)
    given.hub.add(ModelSpec.make("feature_extractor", "mine", "WAVLM_LARGE"), extractor)
    np.testing.assert_array_equal(given.convert(vc_models["src"], vc_models["ref"]).audio,
                                  expected)
    cache = vc_models["cache"]
    with pytest.raises(ModelKindError, match="'tiny-wavlm' is a feature extractor, not a feature vocoder"):
        make_synth(vc_vocoder="tiny-wavlm", extractor="tiny-wavlm", cache=cache).knnvc
    with pytest.raises(ModelKindError, match="'tiny-knnvc' is a feature vocoder, not a feature extractor"):
        make_synth(vc_vocoder="tiny-knnvc", extractor="tiny-knnvc", cache=cache).knnvc


def test_vocoder_chosen_per_call(synth, vocoder_path, tmp_path) -> None:
    """One synthesizer, several vocoders: each call names its own, loaded once by the hub."""
    other = save_tiny_mel_vocoder(tmp_path / "other", resblock="2", seed=1)
    wav = speechlike(0.5, SR)
    default = synth.resynthesize(wav, sample_rate=SR).audio
    chosen = synth.resynthesize(wav, sample_rate=SR, vocoder=other).audio
    alone = make_synth(other).resynthesize(wav, sample_rate=SR).audio
    np.testing.assert_array_equal(chosen, alone)
    assert chosen.shape == default.shape and not np.array_equal(chosen, default)
    assert synth.mel_vocoder(other) is synth.mel_vocoder(str(other))  # held once
    gl = synth.speak("Hi.", vocoder="griffinlim")
    assert gl.sample_rate == 22050
    assert synth.speak("Hi.", vocoder="none").sample_rate == 22050
    # A spec with its own config: a checkpoint and a config file given apart.
    spec = ModelSpec.make("mel_vocoder", other, other.parent / "config.json")
    np.testing.assert_array_equal(synth.resynthesize(wav, sample_rate=SR, vocoder=spec).audio,
                                  alone)
    mel = synth.mel(wav, vocoder=other).numpy()
    np.testing.assert_array_equal(synth.vocode(mel, vocoder=other).audio, alone)
    assert synth.sample_rate == SR  # the configured default is unchanged


def test_config_is_checked() -> None:
    for field, value, message in (("k", 0, "k must be at least 1, got 0"),
                                  ("speaking_rate", 20, "speaking_rate must be 80..450"),
                                  ("max_batch_size", 0, "max_batch_size must be at least 1"),
                                  ("chunk_frames", 0, "chunk_frames must be at least 1")):
        with pytest.raises(PipelineError, match=message):
            make_synth(**{field: value})
    config = SynthConfig(vocoder=Path("a/b.pt"), vocoder_config="v1")
    assert config.vocoder == "a/b.pt"
    assert config.vocoder_spec() == ModelSpec("mel_vocoder", "a/b.pt", "v1")
    assert config.vocoder_spec("c.pt") == ModelSpec("mel_vocoder", "c.pt")  # not the config's
    assert config.vocoder_spec("none") is None
    assert config.vocoder_spec("griffinlim").option("n_iter") == 32
