"""app.py in-process (no server): errors mapped once, with the app's hints; the command line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import app as webapp
from synth.models import ModelCache, ModelKindError, ModelRegistry, ModelUnavailableError
from synth.pipeline import SynthConfig
from synth.service import ServiceConfig, SynthService
from tests.conftest import run_cli


def make_service(models, tmp_path: Path) -> SynthService:
    config = ServiceConfig(synth=SynthConfig(vocoder=str(models.vocoder), vc_vocoder="tiny-knnvc",
                                             extractor="tiny-wavlm"),
                           device="cpu", models_dir=models.models_dir,
                           voices_dir=tmp_path / "voices", temp_dir=tmp_path / "temp")
    return SynthService(config, ModelCache(ModelRegistry.load(models.registry), models.home))


def test_model_errors_get_the_apps_hints() -> None:
    missing = ModelUnavailableError("model 'v' (mel vocoder, ~5.6 MiB) is not in the cache",
                                    models=["v"], kinds=["mel_vocoder"])
    assert webapp.user_message(missing) == (
        "model 'v' (mel vocoder, ~5.6 MiB) is not in the cache. Download it in the Models tab, "
        "or run `synth models download v`; or choose 'griffinlim' as the vocoder (no download, "
        "lower quality)")
    both = ModelUnavailableError("2 models are missing: e, f. (1) ... (2) ...", models=["e", "f"],
                                 kinds=["feature_extractor", "feature_vocoder"], offline=True,
                                 summary="2 models are missing: e, f")
    assert webapp.user_message(both) == (
        "2 models are missing: e, f (the Models tab shows where each file goes). The app runs "
        "offline (HIFISYNTH_OFFLINE=1): it cannot download them")
    online = ModelUnavailableError("...", models=["e", "f"], summary="2 models are missing: e, f",
                                   kinds=["feature_extractor", "feature_vocoder"])
    assert webapp.user_message(online).endswith(
        ". Download them in the Models tab, or run `synth models download e f`")
    failed = ModelUnavailableError("cannot download model 'e': HTTP 404", models=["e"],
                                   kinds=["feature_extractor"], reason="download_failed")
    assert webapp.user_message(failed) == "cannot download model 'e': HTTP 404"
    kind = ModelKindError("model 'k' is a feature vocoder, not a mel vocoder", model="k",
                          kind="feature_vocoder", expected="mel_vocoder")
    assert webapp.user_message(kind).endswith("not a mel vocoder; choose a mel vocoder")
    assert webapp.user_message(RuntimeError("a bug")) is None


def test_unexpected_errors_become_one_line_and_are_logged(app_models, tmp_path, caplog) -> None:
    import gradio as gr

    service = make_service(app_models, tmp_path)

    def broken(text: str) -> str:
        raise RuntimeError(f"internal detail {service.temp_dir}/x")

    with caplog.at_level(logging.ERROR, logger="hifisynth.app"):
        with pytest.raises(gr.Error) as info:
            webapp.handler(service, broken, "broken")("hi")
    assert info.value.message == ("Something went wrong in the app (RuntimeError); the details "
                                  "are in the server log")
    assert "broken failed" in caplog.text and "internal detail" in caplog.text
    with pytest.raises(gr.Error) as info:
        webapp.handler(service, service.tts, "tts")("")
    assert info.value.message == "Type some text to speak"


def test_the_ui_builds_one_tab_per_builder(app_models, tmp_path) -> None:
    demo = webapp.build_ui(make_service(app_models, tmp_path))
    apis = {d.api_name for d in demo.fns.values() if d.api_visibility == "public"}
    assert apis == {"tts", "mel", "convert", "save_voice", "vocoder", "vocoder_compare",
                    "models", "download_model", "status"}


def test_command_line_help_and_bad_options(tmp_path) -> None:
    result = run_cli("app", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for option in ("--host", "--port", "--share", "--root-path", "--device", "--vocoder",
                   "--vc-vocoder", "--extractor", "--models-dir", "--max-upload-mb",
                   "--max-seconds", "--concurrency", "--max-model-gb"):
        assert option in result.stdout
    result = run_cli("app", "--concurrency", "0", "--models-dir", str(tmp_path / "nowhere"),
                     cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == \
        "app.py: error: --concurrency must be at least 1 (see 'app.py --help')"


def test_an_extractor_directory_at_start_up(tmp_path) -> None:
    """`app.py --extractor DIR`: a Hugging Face Wav2Vec2-Conformer runs voice conversion."""
    pytest.importorskip("transformers")
    from tests.conftest import speechlike, write_wav
    from tests.synth.hfkit import save_tiny
    from tests.synth.pipeline_models import save_tiny_vc_models

    directory = save_tiny(tmp_path / "conformer", "conformer-relative")
    vc_vocoder = save_tiny_vc_models(tmp_path / "vc")["vc_vocoder"]
    options = ["--extractor", str(directory), "--vc-vocoder", str(vc_vocoder), "--layer", "1",
               "--vocoder", "griffinlim", "--device", "cpu", "--voices-dir", str(tmp_path / "v")]
    parser = webapp.build_parser()
    config = webapp.config_from_args(parser.parse_args(options), tmp_path / "temp")
    service = SynthService(config, ModelCache(ModelRegistry([]), tmp_path / "home"))
    assert service.preload() == [] and service.banner() == ""
    assert service.status()["models"]["extractor"] == "conformer"
    assert service.synth.knnvc.extractor.num_layers == 1  # only the layers used are loaded
    source = write_wav(tmp_path / "src.wav", speechlike(0.8, 16000, seed=1), 16000)
    reference = write_wav(tmp_path / "ref.wav", speechlike(1.5, 16000, seed=2), 16000)
    wav, notes = service.convert(str(source), [str(reference)])
    assert Path(wav).is_file() and "16000 Hz" in notes
    with pytest.raises(ValueError, match="--extractor-arch goes with an --extractor file, not a "
                                         "model directory"):
        webapp.config_from_args(parser.parse_args([*options, "--extractor-arch", "WAVLM_LARGE"]),
                                tmp_path / "temp")
