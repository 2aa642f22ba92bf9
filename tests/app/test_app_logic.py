"""The app's pieces in-process (no server): offline models, download progress, path checks,
upload checks Gradio's own limits never let through, images, error wrapping, the command."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import app as webapp
from synth.models import ModelRegistry
from tests.app.app_models import SR
from tests.conftest import run_cli, speechlike, write_wav


def make_app(models, tmp_path: Path, home: Path | None = None, offline: bool = False,
             **config) -> webapp.HifisynthApp:
    cfg = webapp.AppConfig(vocoder=str(models.vocoder), vc_vocoder="tiny-knnvc",
                           extractor="tiny-wavlm", device="cpu", models_dir=models.models_dir,
                           voices_dir=tmp_path / "voices", temp_dir=tmp_path / "temp", **config)
    return webapp.HifisynthApp(cfg, registry=ModelRegistry.load(models.registry),
                               home=home or models.home, offline=offline)


def test_offline_missing_model_says_how_to_get_it_and_the_rest_works(app_models, tmp_path) -> None:
    import gradio as gr

    app = make_app(app_models, tmp_path, home=tmp_path / "empty-home", offline=True)
    problems = app.preload()
    assert len(problems) == 1 and problems[0].startswith("knnvc: ")
    src = write_wav(tmp_path / "src.wav", speechlike(1.0, SR), SR)
    convert = webapp.handler(app, app.convert, "convert")
    with pytest.raises(gr.Error) as info:
        convert(str(src), [str(src)], 4, True, -16)
    message = info.value.message
    assert "HIFISYNTH_OFFLINE=1 forbids downloading it" in message
    assert "place the file by hand" in message
    assert str(tmp_path / "empty-home" / "models") in message
    assert "file://" in message
    wav_path, notes = app.tts("Still speaking.", "base", None, None, "default")
    assert Path(wav_path).is_file() and "through the **g_00000001** vocoder" in notes
    assert Path(app.mel(wav_path)).suffix == ".png"
    assert app.status()["offline"] is True


def test_online_missing_model_is_not_downloaded_behind_the_users_back(app_models, tmp_path) -> None:
    app = make_app(app_models, tmp_path, home=tmp_path / "home")
    with pytest.raises(webapp.ModelUnavailableError, match="download it in the Models tab"):
        app.synth.knnvc  # noqa: B018
    assert not (tmp_path / "home" / "models" / "tiny-knnvc" / "g_00000001").exists()


def test_download_reports_progress_in_bytes(app_models, tmp_path) -> None:
    app = make_app(app_models, tmp_path, home=tmp_path / "home")
    calls = []
    notes, table = app.download_model("tiny-extra",
                                      progress=lambda *a, **k: calls.append((a, k)))
    path = tmp_path / "home" / "models" / "tiny-extra" / "g_00000001"
    assert notes.startswith("downloaded **tiny-extra**") and path.is_file()
    assert calls, "no progress reported"
    done = [a[0][0] for a, _ in calls]
    assert done == sorted(done) and done[-1] == path.stat().st_size
    assert all(a[0][1] == path.stat().st_size for a, _ in calls)
    assert calls[-1][1] == {"desc": "downloading tiny-extra", "unit": "bytes"}
    assert {r[0]: r[3] for r in table}["tiny-extra"] == "verified"
    with pytest.raises(webapp.UserError, match="unknown model 'nope'"):
        app.download_model("nope")


def test_vocoder_names_never_leave_the_models_folder(app_models, tmp_path) -> None:
    app = make_app(app_models, tmp_path)
    outside = tmp_path / "secret" / "g_00000001"
    outside.parent.mkdir()
    outside.write_bytes(app_models.vocoder.read_bytes())
    (outside.parent / "config.json").write_bytes(
        (app_models.vocoder.parent / "config.json").read_bytes())
    link = app_models.models_dir / "escape"
    link.symlink_to(outside.parent, target_is_directory=True)
    try:
        assert "escape/g_00000001" not in app.model_files()
        for name in (str(outside), "escape/g_00000001", f"../../{outside.relative_to(tmp_path.parent)}",
                     "tiny/../../models.json", "tiny/g_00000001\x00.pt", ""):
            if name:
                with pytest.raises(webapp.UserError, match="unknown vocoder"):
                    app.resolve_vocoder(name)
        assert app.resolve_vocoder("") is app.synth
        assert app.resolve_vocoder("tiny/g_00000001").vocoder_name == str(app_models.vocoder)
    finally:
        link.unlink()
    with pytest.raises(webapp.UserError, match="voice must be 'base', 'clips' or 'saved'"):
        app.tts("Hello.", "robot")


def test_read_clip_limits_beyond_what_gradio_checks(tmp_path) -> None:
    limits = webapp.Limits(max_upload_mb=0.05, max_seconds=3)
    big = write_wav(tmp_path / "big.wav", speechlike(2.0, SR), SR)  # 64 kB
    with pytest.raises(webapp.UserError, match=r"source \(big.wav\): the file is 0.1 MB; the "
                                               r"limit is 0.05 MB"):
        webapp.read_clip(big, "source", limits)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(webapp.UserError, match="the file is empty"):
        webapp.read_clip(empty, "source", limits)
    with pytest.raises(webapp.UserError, match="the upload is missing"):
        webapp.read_clip(tmp_path / "gone.wav", "source", limits)
    header_only = write_wav(tmp_path / "nosamples.wav", np.zeros(0, np.float32), SR)
    with pytest.raises(webapp.UserError, match=r"source \(nosamples.wav\): audio file has no "
                                               r"samples"):
        webapp.read_clip(header_only, "source", webapp.Limits())
    ok = webapp.read_clip(write_wav(tmp_path / "ok.wav", speechlike(1.0, 48000), 48000), "ref",
                          webapp.Limits(), target_rate=SR)
    assert ok.sample_rate == 48000 and ok.wav.dtype == np.float32 and ok.seconds == 1.0
    assert ok.notes == ["ref (ok.wav): resampled from 48000 Hz to 16000 Hz"]


def test_mel_image_orientation_range_and_width() -> None:
    mel = np.full((20, 50), -11.5, np.float32)
    mel[0, :] = 2.0  # energy in the lowest band only
    image = webapp.mel_image(mel)
    assert image.shape == (160, 800, 3) and image.dtype == np.uint8  # 50 frames x 16 px
    assert image[-1].mean() > 200 and image[0].mean() < 20  # low frequencies at the bottom
    wide = webapp.mel_image(np.zeros((80, 4000), np.float32), max_width=1000)
    assert wide.shape == (160, 1000, 3)
    lo_hi = webapp.mel_range(mel, mel - 3)
    assert lo_hi == (-8.0, 2.0)
    same = webapp.mel_image(mel - 3, lo_hi)
    assert same[-1].mean() < image[-1].mean()  # same colour range: the quieter mel is darker


def test_unexpected_errors_become_one_line_and_are_logged(app_models, tmp_path, caplog) -> None:
    import gradio as gr

    app = make_app(app_models, tmp_path)

    def broken(text: str) -> str:
        raise RuntimeError(f"internal detail {app.temp_dir}/x")

    with caplog.at_level(logging.ERROR, logger="hifisynth.app"):
        with pytest.raises(gr.Error) as info:
            webapp.handler(app, broken, "broken")("hi")
    assert info.value.message == ("Something went wrong in the app (RuntimeError); the details "
                                  "are in the server log")
    assert "broken failed" in caplog.text and "internal detail" in caplog.text
    with pytest.raises(gr.Error) as info:
        webapp.handler(app, app.tts, "tts")("")
    assert info.value.message == "Type some text to speak"


def test_command_line_help_and_bad_options(tmp_path) -> None:
    result = run_cli("app", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for option in ("--host", "--port", "--share", "--root-path", "--device", "--vocoder",
                   "--vc-vocoder", "--extractor", "--models-dir", "--max-upload-mb",
                   "--max-seconds", "--concurrency"):
        assert option in result.stdout
    result = run_cli("app", "--concurrency", "0", "--models-dir", str(tmp_path / "nowhere"),
                     cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == \
        "app.py: error: --concurrency must be at least 1 (see 'app.py --help')"
