"""The web app's actions without the web (synth.service): missing models named at once and
never downloaded behind a request's back, download progress, the banner, vocoders chosen per
request on one hub, uploaded checkpoints loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from synth.catalog import ChoiceError
from synth.models import ModelCache, ModelRegistry, ModelUnavailableError
from synth.pipeline import SynthConfig
from synth.service import RequestError, ServiceConfig, SynthService
from tests.conftest import speechlike, write_wav
from tests.synth.service_models import SR, build_app_models


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_app_models(tmp_path_factory.mktemp("service-models"))


def make_service(models, tmp_path: Path, home: Path | None = None, offline: bool = False,
                 vocoder: str | None = None, models_dir: Path | None | str = "default",
                 **config) -> SynthService:
    synth = SynthConfig(vocoder=vocoder or str(models.vocoder), vc_vocoder="tiny-knnvc",
                        extractor="tiny-wavlm")
    models_dir = models.models_dir if models_dir == "default" else models_dir
    cfg = ServiceConfig(synth=synth, device="cpu", models_dir=models_dir,
                        voices_dir=tmp_path / "voices", temp_dir=tmp_path / "temp", **config)
    cache = ModelCache(ModelRegistry.load(models.registry), home or models.home, offline=offline)
    return SynthService(cfg, cache)


def test_offline_missing_models_are_named_at_once_and_the_rest_works(models, tmp_path) -> None:
    service = make_service(models, tmp_path, home=tmp_path / "empty-home", offline=True)
    problems = service.preload()
    assert len(problems) == 1 and problems[0].startswith("knnvc: 2 models are missing: "
                                                         "tiny-wavlm (feature extractor")
    src = write_wav(tmp_path / "src.wav", speechlike(1.0, SR), SR)
    with pytest.raises(ModelUnavailableError) as info:
        service.convert(str(src), [str(src)], 4, True, -16)
    assert info.value.models == ("tiny-wavlm", "tiny-knnvc") and info.value.offline
    message = str(info.value)
    assert "the cache is offline" in message and "place the file by hand" in message
    assert str(tmp_path / "empty-home" / "models") in message and "file://" in message
    wav_path, notes = service.tts("Still speaking.", "base", None, None, "default")
    assert Path(wav_path).is_file() and "through the **g_00000001** vocoder" in notes
    assert Path(service.mel(wav_path)).suffix == ".png"
    assert service.status()["offline"] is True
    assert service.status()["models"]["missing"] == ["tiny-wavlm", "tiny-knnvc"]
    banner = service.banner()
    assert "**tiny-wavlm**" in banner and "**tiny-knnvc**" in banner
    assert "offline (HIFISYNTH_OFFLINE=1)" in banner


def test_online_missing_model_is_not_downloaded_behind_the_users_back(models, tmp_path) -> None:
    service = make_service(models, tmp_path, home=tmp_path / "home")
    with pytest.raises(ModelUnavailableError) as info:
        service.synth.knnvc  # noqa: B018
    assert info.value.reason == "missing" and not info.value.offline
    assert not (tmp_path / "home" / "models" / "tiny-knnvc" / "g_00000001").exists()
    assert "Download them in the **Models** tab, or run `synth models download tiny-wavlm " \
           "tiny-knnvc`" in service.banner()


def test_download_reports_progress_in_bytes(models, tmp_path) -> None:
    service = make_service(models, tmp_path, home=tmp_path / "home")
    calls = []
    notes, table = service.download_model("tiny-extra",
                                          progress=lambda *a, **k: calls.append((a, k)))
    path = tmp_path / "home" / "models" / "tiny-extra" / "g_00000001"
    assert notes.startswith("downloaded **tiny-extra**") and path.is_file()
    assert calls, "no progress reported"
    done = [a[0][0] for a, _ in calls]
    assert done == sorted(done) and done[-1] == path.stat().st_size
    assert all(a[0][1] == path.stat().st_size for a, _ in calls)
    assert calls[-1][1] == {"desc": "downloading tiny-extra", "unit": "bytes"}
    rows = {r[0]: r for r in table}
    assert rows["tiny-extra"][3] == "verified" and rows["tiny-extra"][2].endswith("KiB")
    notes, _ = service.download_model("tiny-extra")
    assert "was already in the cache" in notes
    with pytest.raises(ChoiceError, match="unknown model 'nope'"):
        service.download_model("nope")


def test_a_missing_default_vocoder_is_not_preselected(models, tmp_path) -> None:
    """A new user without the default vocoder: Griffin-Lim is preselected and the banner says
    what is missing, how big it is and how to get it; once it is downloaded, it is chosen."""
    service = make_service(models, tmp_path, home=tmp_path / "home", vocoder="tiny-extra",
                           models_dir=None)
    assert service.catalog.preselected_vocoder() == "griffinlim"
    labels = dict((v, label) for label, v in service.catalog.vocoder_choices())
    assert labels["default"].startswith("tiny-extra (default, not downloaded, ")
    banner = service.banner()
    assert banner.startswith("**Not downloaded yet:** the default vocoder **tiny-extra** (")
    assert "~" not in banner  # pairs of ~ strike markdown through
    choices, first = service.download_choices()
    assert first == "tiny-extra" and ("tiny-extra (mel vocoder, " in dict(
        (v, label) for label, v in choices)["tiny-extra"])
    assert "Griffin-Lim (no download, lower quality) is selected until then" in banner
    wav, notes = service.tts("Hello.", "base", None, None, "griffinlim")
    assert "through the **griffinlim** vocoder" in notes
    with pytest.raises(ModelUnavailableError) as info:
        service.tts("Hello.", "base", None, None, "default")
    assert info.value.kinds == ("mel_vocoder",)
    service.download_model("tiny-extra")
    assert service.catalog.preselected_vocoder() == "default"
    assert "tiny-extra" not in service.banner()


def test_vocoders_per_request_share_one_hub(models, tmp_path) -> None:
    service = make_service(models, tmp_path)
    clip = write_wav(tmp_path / "a.wav", speechlike(1.0, SR), SR)
    service.vocoder(str(clip), None, "default")
    service.vocoder(str(clip), None, "griffinlim")
    service.vocoder(str(clip), None, "tiny/g_00000001")  # the default, named by its file
    held = [(h.spec.kind, h.spec.label) for h in service.hub.held()]
    assert held.count(("mel_vocoder", "g_00000001")) == 1
    assert ("mel_vocoder", "griffinlim") in held
    # An uploaded checkpoint is kept by content: a copy at another path is not loaded again.
    config = models.vocoder.parent / "config.json"
    copy = tmp_path / "upload2" / "g.pt"
    copy.parent.mkdir()
    copy.write_bytes(models.vocoder.read_bytes())
    for ckpt in (models.vocoder, copy):
        _, notes = service.vocoder(str(clip), None, "default", str(ckpt), str(config), "")
        assert f"by the uploaded checkpoint {ckpt.name}" in notes
    assert len(service.hub.held()) == len(held) + 1
    with pytest.raises(RequestError, match=r"upload its config.json too \(or its family's files"):
        service.vocoder(str(clip), None, "default", str(copy), None, "")
    with pytest.raises(RequestError, match="voice must be 'base', 'clips' or 'saved'"):
        service.tts("Hello.", "robot")
    status = service.status()
    assert status["model_memory_mb"] > 0 and status["preselected_vocoder"] == "default"
    assert {"name": "griffinlim", "kind": "mel_vocoder", "mb": 0.3} in status["models"]["held"]
