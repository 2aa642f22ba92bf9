"""Every endpoint of the running app through ``gradio_client``, the error cases included."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from synth.audio import integrated_loudness
from tests.synth.service_models import MEL_HOP, SR, VC_HOP
from tests.app.conftest import MAX_SECONDS, compressed_clips
from tests.conftest import speechlike, write_wav

ENDPOINTS = {"/tts", "/mel", "/convert", "/save_voice", "/vocoder", "/vocoder_compare",
             "/models", "/download_model", "/status"}
DISPLAY_HOP = 256  # the mel images: 80 bands (2 px each), hop 256 at the audio's rate


def image_size(frames: int, bands: int = 80) -> tuple[int, int]:
    """(width, height) of a mel image: frames repeated up to 800 px, 160 px of bands."""
    return frames * max(1, 800 // frames), bands * (160 // bands)


def predict(client, *args, api_name: str):
    return client.predict(*args, api_name=api_name)


def app_error(client, *args, api_name: str) -> str:
    """The message of the error the app answers with, checked to be one clean sentence
    (capitalised, no traceback, no server temp folder), returned with its first letter in
    lower case for comparisons."""
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        client.predict(*args, api_name=api_name)
    message = str(info.value)
    assert "Traceback" not in message and "apptmp" not in message, message
    assert message[:1].isupper() and "\n" not in message, message
    return message[:1].lower() + message[1:]


def read(path: str) -> tuple[np.ndarray, int]:
    audio, sr = sf.read(path, dtype="float32")
    return audio, sr


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def vc_samples(seconds: float) -> int:
    """Output samples of kNN-VC for ``seconds`` of 16 kHz source (WavLM frames x 320)."""
    return ((int(seconds * SR) - 400) // VC_HOP + 1) * VC_HOP


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    speech = speechlike(1.5, SR, seed=3)
    noise = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 1e-5
    corrupt = d / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    return {
        "source": write_wav(d / "source.wav", speechlike(1.5, 22050, seed=2), 22050),
        "ref": write_wav(d / "ref.wav", speechlike(2.0, SR, seed=1), SR),
        "ref2": write_wav(d / "ref2.wav", speechlike(1.0, 24000, seed=4), 24000),
        "stereo44": write_wav(d / "stereo44.wav",
                              np.stack([speechlike(1.5, 44100, seed=5),
                                        0.5 * speechlike(1.5, 44100, seed=6)], axis=1), 44100),
        "u8": write_wav(d / "u8.wav", speech, SR, subtype="PCM_U8"),
        "float_hot": write_wav(d / "float_hot.wav", 5.0 * speech, SR, subtype="FLOAT"),
        "rate8k": write_wav(d / "rate8k.wav", speechlike(1.5, 8000, seed=7), 8000),
        "silent": write_wav(d / "silent.wav", np.zeros(SR, np.float32), SR),
        "hiss": write_wav(d / "hiss.wav", noise, SR, subtype="FLOAT"),
        "corrupt": corrupt,
        "too_long": write_wav(d / "too_long.wav", speechlike(MAX_SECONDS + 1, 8000, seed=8), 8000),
        "too_short": write_wav(d / "too_short.wav", speechlike(0.1, SR, seed=9), SR),
        "rate2k": write_wav(d / "rate2k.wav", speechlike(1.0, 2000, seed=10), 2000),
        "big": write_wav(d / "big.wav", speechlike(6.0, 48000, seed=11), 48000, subtype="FLOAT"),
    }


def f(path: Path):
    from gradio_client import handle_file

    return handle_file(str(path))


# ------------------------------------------------------------------------------- the API

def test_every_action_is_a_named_endpoint(client) -> None:
    api = client.view_api(return_format="dict", print_info=False)
    assert set(api["named_endpoints"]) == ENDPOINTS
    assert not api.get("unnamed_endpoints")
    params = {name: [p["parameter_name"] for p in ep["parameters"]]
              for name, ep in api["named_endpoints"].items()}
    assert params["/tts"] == ["text", "voice", "references", "saved_voice", "vocoder", "acoustic",
                              "seed"]
    assert params["/convert"] == ["source", "references", "k", "normalize", "loudness"]
    assert params["/vocoder"] == ["audio", "mel", "vocoder", "checkpoint", "config", "preset"]
    assert params["/vocoder_compare"] == ["original", "resynthesized", "mel"]
    assert params["/mel"] == ["audio"]


def test_status_reports_device_models_and_limits(client) -> None:
    status = predict(client, api_name="/status")
    assert status["device"] == "cpu" and status["cuda"] is None
    assert status["concurrency"] == 1
    assert status["models"]["vocoder"] == "g_00000001"  # a path is shown by its file name
    assert status["models"]["vc_vocoder"] == "tiny-knnvc"
    assert {"vocoder", "espeak", "knnvc"} <= set(status["models"]["loaded"])  # preloaded
    assert status["limits"]["max_upload_mb"] == 1.0
    assert status["limits"]["max_seconds"] == MAX_SECONDS
    assert status["vocoders"][:1] == ["default"] and status["preselected_vocoder"] == "default"
    assert status["model_memory_mb"] > 0 and status["models"]["missing"] == []
    assert {"griffinlim", "tiny-extra", "tiny/g_00000001"} <= set(status["vocoders"])
    assert not any("/" in v and v != "tiny/g_00000001" for v in status["vocoders"])


# ------------------------------------------------------------------------------- text to speech

def test_tts_base_voice(client) -> None:
    wav_path, notes = predict(client, "Hello there. This is hifisynth.", "base", [], None,
                              "default", api_name="/tts")
    audio, sr = read(wav_path)
    assert sr == SR and len(audio) % MEL_HOP == 0
    assert 1.0 < len(audio) / sr < 5.0 and rms(audio) > 0.01
    image = Image.open(predict(client, f(Path(wav_path)), api_name="/mel"))
    assert image.mode == "RGB" and image.size == image_size(len(audio) // DISPLAY_HOP)
    assert "through the **g_00000001** vocoder" in notes
    assert f"{len(audio) / sr:.2f} s at 16000 Hz" in notes


@pytest.mark.parametrize("vocoder, rate", [("griffinlim", 22050), ("tiny/g_00000001", SR),
                                           ("none", 22050)])
def test_tts_vocoder_choices(client, vocoder, rate) -> None:
    wav_path, notes = predict(client, "Testing one two three.", "base", [], None, vocoder,
                              api_name="/tts")
    audio, sr = read(wav_path)
    assert sr == rate and rms(audio) > 0.005


def test_tts_bad_input(client, app_models) -> None:
    def tts_error(text="Hello.", voice="base", refs=(), saved=None, vocoder="default") -> str:
        return app_error(client, text, voice, list(refs), saved, vocoder, api_name="/tts")

    assert tts_error("") == "type some text to speak"
    assert tts_error("   \n ") == "type some text to speak"
    assert "the limit is 300" in tts_error("word " * 70)
    assert "nothing to speak" in tts_error("?!...")
    assert "unknown vocoder '/etc/passwd'" in tts_error(vocoder="/etc/passwd")
    # A real file just outside the models folder is refused as well.
    assert (app_models.models_dir.parent / "models.json").is_file()
    assert "unknown vocoder '../models.json'" in tts_error(vocoder="../models.json")
    assert "is a feature extractor, not a mel vocoder" in tts_error(vocoder="tiny-wavlm")
    assert "no saved voice called '../../etc/passwd'" in tts_error(voice="saved",
                                                                   saved="../../etc/passwd")
    assert "upload one or more reference clips" in tts_error(voice="clips")
    assert "value: 'robot' (type: <class 'str'>) is not in the list of choices" in \
        tts_error(voice="robot")  # Gradio checks the choices itself


def test_tts_in_a_voice_from_clips_and_saved(client, clips, app_server) -> None:
    text = "Good morning. How are you?"
    wav_path, notes = predict(client, text, "clips", [f(clips["ref"])], None, "default",
                              api_name="/tts")
    audio, sr = read(wav_path)
    assert sr == SR and len(audio) % VC_HOP == 0
    assert integrated_loudness(audio, sr) == pytest.approx(-16.0, abs=0.5)
    assert "converted into 1 reference clip(s)" in notes

    notes, name = predict(client, [f(clips["ref"]), f(clips["ref2"])], "alice",
                          api_name="/save_voice")
    assert name == "alice" and "saved voice **alice**: 2 clip(s)" in notes
    assert (app_server.voices_dir / "alice.pt").is_file()
    assert "alice" in predict(client, api_name="/status")["voices"]
    notes, _ = predict(client, [f(clips["ref"])], "alice", api_name="/save_voice")
    assert "replaced voice **alice**" in notes
    wav_path, notes = predict(client, text, "saved", [], "alice", "default", api_name="/tts")
    assert read(wav_path)[1] == SR and "saved voice **alice**" in notes


def test_save_voice_bad_input(client, clips, app_server) -> None:
    for bad in ("../evil", "a/b", "", "x" * 65):
        assert "is not allowed: use 1-64 letters" in app_error(
            client, [f(clips["ref"])], bad, api_name="/save_voice")
    assert "upload one or more reference clips" in app_error(client, [], "bob",
                                                             api_name="/save_voice")
    assert not (app_server.voices_dir.parent / "evil.pt").exists()
    assert "the clip is silent" in app_error(client, [f(clips["silent"])], "bob",
                                             api_name="/save_voice")
    assert not (app_server.voices_dir / "bob.pt").exists()


# ------------------------------------------------------------------------------- voice conversion

def test_convert(client, clips) -> None:
    wav_path, notes = predict(client, f(clips["source"]), [f(clips["ref"])], 4, True, -16,
                              api_name="/convert")
    audio, sr = read(wav_path)
    assert sr == SR and len(audio) == vc_samples(1.5)
    assert integrated_loudness(audio, sr) == pytest.approx(-16.0, abs=0.5)
    assert "source (source.wav): resampled from 22050 Hz to 16000 Hz" in notes
    assert "1.50 s of source speech in the voice of 1 reference clip(s)" in notes

    quieter, _ = predict(client, f(clips["source"]), [f(clips["ref"]), f(clips["ref2"])], 1,
                         True, -26, api_name="/convert")
    audio2, _ = read(quieter)
    assert len(audio2) == len(audio)
    assert integrated_loudness(audio2, SR) == pytest.approx(-26.0, abs=0.5)
    as_is, notes = predict(client, f(clips["source"]), [f(clips["ref"])], 4, False, -16,
                           api_name="/convert")
    assert "2 reference clip(s)" not in notes
    level = integrated_loudness(read(as_is)[0], SR)
    assert abs(level + 16.0) > 1.0  # not normalised


@pytest.mark.parametrize("clip, notes", [
    ("stereo44", ["2 channels, mixed down to mono", "resampled from 44100 Hz to 16000 Hz"]),
    ("u8", ["8-bit samples"]),
    ("float_hot", ["32-bit float samples", "beyond full scale; scaled down to peak 0.99"]),
    ("rate8k", ["resampled from 8000 Hz to 16000 Hz (a 8000 Hz recording has nothing above "
                "4 kHz"]),
])
def test_convert_converts_unusual_files_and_says_so(client, clips, clip, notes) -> None:
    wav_path, text = predict(client, f(clips[clip]), [f(clips["ref"])], 4, True, -16,
                             api_name="/convert")
    audio, sr = read(wav_path)
    assert sr == SR and len(audio) == vc_samples(1.5) and rms(audio) > 0.01
    for note in notes:
        assert f"source ({clip}.wav): " in text and note in text


def test_compressed_uploads_need_no_ffmpeg(client, tmp_path) -> None:
    """MP3, FLAC and Ogg uploads through the API (no ffprobe on the server): converted,
    resynthesised and shown like WAV files."""
    files = compressed_clips(tmp_path)
    wav_path, notes = predict(client, f(files[".mp3"]), [f(files[".flac"]), f(files[".ogg"])], 4,
                              True, -16, api_name="/convert")
    audio, sr = read(wav_path)
    assert sr == SR and abs(len(audio) - vc_samples(1.5)) <= VC_HOP and rms(audio) > 0.01
    assert "2 reference clip(s)" in notes
    for suffix in (".ogg", ".flac"):
        resynth, notes = predict(client, f(files[suffix]), None, "default", None, None, "",
                                 api_name="/vocoder")
        assert read(resynth)[1] == SR and f"speech{suffix}: " in notes
        image = Image.open(predict(client, f(files[suffix]), api_name="/mel"))
        assert image.size[1] == 160


@pytest.mark.parametrize("clip, message", [
    ("silent", "source (silent.wav): the clip is silent (no signal at all); upload or record "
               "speech"),
    ("hiss", "source (hiss.wav): the clip is silent (peak -"),
    ("corrupt", "source (corrupt.wav): not an audio file the app can read"),
    ("too_long", f"source (too_long.wav): {MAX_SECONDS + 1:.1f} s long; the limit is "
                 f"{MAX_SECONDS:g} s"),
    ("too_short", "source (too_short.wav): only 0.10 s long; the app needs at least 0.2 s"),
    ("rate2k", "source (rate2k.wav): sample rate 2000 Hz is not usable"),
])
def test_convert_refuses_bad_files_with_a_message(client, clips, clip, message) -> None:
    assert message in app_error(client, f(clips[clip]), [f(clips["ref"])], 4, True, -16,
                                api_name="/convert")


def test_convert_missing_inputs_and_reference_problems(client, clips) -> None:
    assert "upload or record the source speech" == app_error(
        client, None, [f(clips["ref"])], 4, True, -16, api_name="/convert")
    assert "upload one or more reference clips" in app_error(
        client, f(clips["source"]), [], 4, True, -16, api_name="/convert")
    assert "reference (corrupt.wav): not an audio file" in app_error(
        client, f(clips["source"]), [f(clips["ref"]), f(clips["corrupt"])], 4, True, -16,
        api_name="/convert")
    assert "Value 100 is greater than maximum value 32" in str(pytest.raises(
        Exception, client.predict, f(clips["source"]), [f(clips["ref"])], 100, True, -16,
        api_name="/convert").value)


def test_upload_size_limit(client, clips, app_server) -> None:
    big = clips["big"]
    assert big.stat().st_size > 1_000_000
    with pytest.raises(ValueError, match="exceeds the maximum file size of 1000000 bytes"):
        client.predict(f(big), [f(clips["ref"])], 4, True, -16, api_name="/convert")
    with open(big, "rb") as handle:  # the server refuses it too, not only the client
        response = httpx.post(f"{app_server.url}/gradio_api/upload",
                              files={"files": ("big.wav", handle)})
    assert response.status_code == 413


# ------------------------------------------------------------------------------- vocoder lab

def test_vocoder_resynthesis_and_scores(client, clips) -> None:
    resynth, notes = predict(client, f(clips["source"]), None, "default", None, None, "",
                             api_name="/vocoder")
    b, sr_b = read(resynth)
    assert sr_b == SR and len(b) == (int(1.5 * SR) // MEL_HOP) * MEL_HOP
    assert "audio (source.wav): resampled from 22050 Hz to 16000 Hz" in notes
    assert "source.wav: 1.50 s resynthesised by g_00000001 at 16000 Hz" in notes

    # The original (22.05 kHz) is resampled to the result's rate and cut to its length.
    orig_mel, out_mel, table = predict(client, f(clips["source"]), f(Path(resynth)), None,
                                       api_name="/vocoder_compare")
    assert Image.open(orig_mel).size == Image.open(out_mel).size == image_size(len(b) // DISPLAY_HOP)
    assert table["headers"] == ["score", "value", "better", "what it measures"]
    scores = {row[0]: row[1] for row in table["data"]}
    assert set(scores) == {"mel L1", "MR-STFT", "PESQ (wideband)", "STOI"}
    assert float(scores["mel L1"]) > 0.1  # a random-weight vocoder is far from the original
    same = {row[0]: row[1] for row in predict(client, f(Path(resynth)), f(Path(resynth)), None,
                                              api_name="/vocoder_compare")[2]["data"]}
    assert float(same["mel L1"]) == pytest.approx(0.0, abs=1e-6)
    assert float(same["STOI"]) == pytest.approx(1.0, abs=1e-3)
    assert 1.0 <= float(scores["PESQ (wideband)"]) <= 4.64


def test_vocoder_other_vocoders(client, clips, app_models) -> None:
    resynth, _ = predict(client, f(clips["ref"]), None, "griffinlim", None, None, "",
                         api_name="/vocoder")
    audio, sr = read(resynth)
    assert sr == 22050 and rms(audio) > 0.005
    # An uploaded checkpoint with its config.json (kept by content: a second call reuses it).
    ckpt, config = app_models.vocoder, app_models.vocoder.parent / "config.json"
    for _ in range(2):
        resynth, notes = predict(client, f(clips["ref"]), None, "default", f(ckpt),
                                 [f(config)], "", api_name="/vocoder")
        assert read(resynth)[1] == SR and "by the uploaded checkpoint g_00000001" in notes


def test_vocoder_mel_files(client, tmp_path) -> None:
    rng = np.random.default_rng(0)
    mel = (-5 + rng.standard_normal((20, 100))).astype(np.float32)
    np.save(tmp_path / "mel.npy", mel)
    out, notes = predict(client, None, f(tmp_path / "mel.npy"), "default", None, None, "",
                         api_name="/vocoder")
    audio, sr = read(out)
    assert sr == SR and len(audio) == 100 * MEL_HOP
    assert "mel.npy: 100 frames vocoded by g_00000001" in notes
    in_img, out_img, table = predict(client, None, f(Path(out)), f(tmp_path / "mel.npy"),
                                     api_name="/vocoder_compare")
    assert Image.open(in_img).size == image_size(100, bands=20)  # the mel given: 20 bands
    assert Image.open(out_img).size == image_size(len(audio) // DISPLAY_HOP)
    assert table["data"] == []  # no original: no scores

    def mel_error(array, name="bad.npy", **save) -> str:
        np.save(tmp_path / name, array, **save)
        return app_error(client, None, f(tmp_path / name), "default", None, None, "",
                         api_name="/vocoder")

    assert "mel (bad.npy): " in mel_error(mel.T) and "it looks transposed" in mel_error(mel.T)
    assert "expected an array of shape (20, frames)" in mel_error(np.zeros((80, 10), np.float32))
    assert "refused: not a plain .npy array" in mel_error(np.array([{"a": 1}], dtype=object),
                                                          allow_pickle=True)
    assert "NaN" in mel_error(np.full((20, 10), np.nan, np.float32))
    too_long = np.zeros((20, int((MAX_SECONDS + 1) * SR / MEL_HOP)), np.float32)
    assert f"the limit is {MAX_SECONDS:g} s" in mel_error(too_long, "long.npy")
    (tmp_path / "fake.npy").write_bytes(b"RIFF....WAVEfmt ")
    assert "not a .npy file" in app_error(client, None, f(tmp_path / "fake.npy"), "default",
                                          None, None, "", api_name="/vocoder")


def test_vocoder_bad_input(client, clips, tmp_path, app_models) -> None:
    np.save(tmp_path / "m.npy", np.zeros((20, 10), np.float32))

    def lab_error(*args) -> str:
        return app_error(client, *args, api_name="/vocoder")

    assert "upload an audio clip to resynthesise or a .npy mel" in lab_error(
        None, None, "default", None, None, "")
    assert "not both" in lab_error(f(clips["ref"]), f(tmp_path / "m.npy"), "default", None,
                                   None, "")
    assert "vocoder 'none' only applies to text to speech" in lab_error(
        f(clips["ref"]), None, "none", None, None, "")
    assert "unknown vocoder '/etc/hostname'" in lab_error(f(clips["ref"]), None, "/etc/hostname",
                                                          None, None, "")
    ckpt = app_models.vocoder
    assert "checkpoint (g_00000001): upload its config.json too (or its family's files" in \
        lab_error(f(clips["ref"]), None, "default", f(ckpt), None, "")
    message = lab_error(f(clips["ref"]), None, "default", f(ckpt), None, "v3")
    assert message.startswith("checkpoint (g_00000001): ") and "parameter" in message
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    assert "not a PyTorch checkpoint" in lab_error(f(clips["ref"]), None, "default",
                                                   f(tmp_path / "junk.pt"), None, "v1")
    assert "Value: ../../etc/passwd is not in the list of choices" in str(pytest.raises(
        Exception, client.predict, f(clips["ref"]), None, "default", f(ckpt), None,
        "../../etc/passwd", api_name="/vocoder").value)
    assert "give the original audio (or the .npy mel) to compare with" in app_error(
        client, None, f(clips["ref"]), None, api_name="/vocoder_compare")
    assert "nothing to compare" in app_error(client, f(clips["ref"]), None, None,
                                             api_name="/vocoder_compare")


# ------------------------------------------------------------------------------- models

def test_models_table_and_download(client, app_models) -> None:
    table = predict(client, api_name="/models")
    rows = {row[0]: dict(zip(table["headers"], row)) for row in table["data"]}
    assert set(rows) == {"tiny-wavlm", "tiny-knnvc", "tiny-extra"}
    assert rows["tiny-knnvc"]["used here as"] == "voice conversion vocoder"
    assert rows["tiny-wavlm"]["state"] in ("verified", "cached")
    assert rows["tiny-extra"]["state"] == "missing"

    # A model not in the cache: the message says how to get it ...
    message = app_error(client, "Hello.", "base", [], None, "tiny-extra", api_name="/tts")
    assert "model 'tiny-extra' (mel vocoder, " in message and "is not in the cache" in message
    assert "Download it in the Models tab" in message
    assert "or choose 'griffinlim' as the vocoder" in message
    assert "synth models download tiny-extra" in message
    assert str(app_models.home / "models" / "tiny-extra" / "g_00000001") in message
    # ... and the rest of the app goes on working.
    wav_path, *_ = predict(client, "Hello.", "base", [], None, "default", api_name="/tts")
    assert read(wav_path)[1] == SR

    notes, table = predict(client, "tiny-extra", api_name="/download_model")
    assert notes.startswith("downloaded **tiny-extra**")
    rows = {row[0]: dict(zip(table["headers"], row)) for row in table["data"]}
    assert rows["tiny-extra"]["state"] == "verified"
    assert (app_models.home / "models" / "tiny-extra" / "g_00000001").is_file()
    notes, _ = predict(client, "tiny-extra", api_name="/download_model")
    assert "was already in the cache" in notes
    wav_path, notes = predict(client, "Hello.", "base", [], None, "tiny-extra", api_name="/tts")
    assert read(wav_path)[1] == SR and "through the **tiny-extra** vocoder" in notes
    assert app_error(client, "nope", api_name="/download_model") == \
        "unknown model 'nope'; known models: tiny-wavlm, tiny-knnvc, tiny-extra"


# ------------------------------------------------------------------------------- safety, queue

def test_no_file_outside_the_app_is_served_or_read(client, app_server, app_models) -> None:
    for path in ("/etc/hostname", str(app_models.vocoder),
                 str(app_models.home / "models" / "tiny-knnvc" / "g_00000001"),
                 str(app_server.log)):
        response = httpx.get(f"{app_server.url}/gradio_api/file={path}")
        assert response.status_code == 403, path
    # A request naming a server file instead of uploading it is refused before the app runs.
    outside = app_server.log
    payload = {"data": [{"path": str(outside), "meta": {"_type": "gradio.FileData"}}, None,
                        "default", None, None, ""]}
    response = httpx.post(f"{app_server.url}/gradio_api/call/vocoder", json=payload)
    event = response.json()["event_id"]
    stream = httpx.get(f"{app_server.url}/gradio_api/call/vocoder/{event}", timeout=30).text
    assert "event: error" in stream and "complete" not in stream
    assert "Cannot move" in app_server.log_text() and "it was not uploaded by a user" in \
        app_server.log_text()
    assert app_server.process.poll() is None


def test_requests_are_queued_and_all_answered(client, clips) -> None:
    jobs = [client.submit(f"Sentence number {i}.", "base", [], None, "default", api_name="/tts")
            for i in range(3)]
    jobs.append(client.submit(f(clips["source"]), [f(clips["ref"])], 4, True, -16,
                              api_name="/convert"))
    results = [job.result(timeout=120) for job in jobs]
    for result in results:
        audio, sr = read(result[0])
        assert sr == SR and rms(audio) > 0.005
    assert "k = 4" in results[3][1]
    status = predict(client, api_name="/status")
    assert status["concurrency"] == 1
    json.dumps(status)


def test_server_log_has_no_unexpected_errors(app_server) -> None:
    """The error cases above are user errors, each logged as one line; none was a bug (which
    the app logs as '<action> failed' with a traceback). Gradio's own input checks (file type,
    slider range, paths) print tracebacks of their own; those are not the app's."""
    log = app_server.log_text()
    assert not re.search(r"hifisynth\.app: \w+ failed", log), log[-3000:]
    assert "something went wrong" not in log
    assert re.search(r"hifisynth\.app: convert: source \(silent\.wav\): the clip is silent", log)
