"""The app's text to speech without the web (synth.service, synth.catalog): the acoustic
models offered (Tacotron2 once downloaded, the espeak-ng base voice), never downloaded behind
the user's back, the banner and notes that say how to get Tacotron2, seeds, and the picture
of the mel with the attention alignment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synth.catalog import ChoiceError
from synth.models import ModelCache, ModelRegistry, ModelUnavailableError
from synth.pipeline import SynthConfig
from synth.service import RequestError, ServiceConfig, SynthService
from tests.synth.pipeline_models import registry_file, save_tiny_vc_models
from tests.synth.service_models import build_app_models
from tests.synth.tacotron2_models import (acoustic_entry, save_tiny_ljspeech_vocoder,
                                          save_tiny_tacotron2)

NAME = "tacotron2-characters-ljspeech"


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("service-tts")
    models = build_app_models(root / "app")
    t2 = save_tiny_tacotron2(root / "published" / "t2.pth")
    entries = save_tiny_vc_models(root / "published" / "vc")["entries"]
    entries.append({"name": "tiny-extra", "kind": "mel_vocoder", "filename": "g_00000001",
                    "urls": [models.vocoder.as_uri()],
                    "config": str(models.vocoder.parent / "config.json")})
    entries.append(dict(acoustic_entry(NAME, t2.as_uri()), approx_size=t2.stat().st_size))
    return {"models": models, "registry": registry_file(root, entries),
            "voc": save_tiny_ljspeech_vocoder(root / "lj")}


def make_service(setup, tmp_path: Path, **synth) -> SynthService:
    config = SynthConfig(vocoder=str(setup["voc"]), vc_vocoder="tiny-knnvc",
                         extractor="tiny-wavlm", **synth)
    cache = ModelCache(ModelRegistry.load(setup["registry"]), tmp_path / "home", progress=False)
    return SynthService(ServiceConfig(synth=config, device="cpu", voices_dir=tmp_path / "voices",
                                      temp_dir=tmp_path / "temp"), cache)


def test_tacotron2_is_offered_used_once_downloaded_and_pictured(setup, tmp_path) -> None:
    service = make_service(setup, tmp_path)
    catalog = service.catalog
    size = ModelRegistry.load(setup["registry"]).get(NAME).size_text
    assert catalog.acoustic_choices() == [(f"{NAME} (not downloaded, {size})", NAME),
                                          ("espeak-ng base voice (no download)", "espeak")]
    assert catalog.preselected_acoustic() == "espeak"
    assert (f"**{NAME}** (about {size.lstrip('~')}), Tacotron2 for text to speech; the espeak-ng "
            "base voice speaks until then") in service.banner()
    assert service.uses()[NAME] == "text to speech (when downloaded)"

    # not downloaded: the base voice speaks, and the notes say how to get Tacotron2
    wav, notes, view = service.speak("Hello there.", "base", None, None, "default")
    assert view is None and "espeak-ng base voice through the **g_00000001** vocoder" in notes
    assert f"download **{NAME}**" in notes and "in the Models tab" in notes
    # asked for by name, it is not downloaded behind the user's back
    with pytest.raises(ModelUnavailableError):
        service.speak("Hello there.", "base", None, None, "default", NAME)
    assert not service.cache.status(NAME).present

    service.download_model(NAME)
    assert catalog.preselected_acoustic() == NAME and NAME not in service.banner()
    assert service.status()["preselected_acoustic"] == NAME
    assert service.status()["acoustic_models"] == [NAME, "espeak"]
    wav, notes, view = service.speak("Hello there. Second sentence.", "base", None, None,
                                     "default", "default", 7)
    assert f"**{NAME}** (seed 7) through the **g_00000001** vocoder" in notes
    assert "download" not in notes
    image = Image.open(service.tts_view(wav, view))
    assert image.size[1] == 160 + 4 + 96
    # the same request, the same speech
    again, _, _ = service.speak("Hello there. Second sentence.", "base", None, None, "default",
                                NAME, "7")
    assert Path(again).read_bytes() == Path(wav).read_bytes()
    # without the speech file (an API client), or with a path the service did not write,
    # the picture is the mel of the audio
    for other in (None, str(setup["voc"]), "/etc/passwd"):
        assert Image.open(service.tts_view(wav, other)).size[1] == 160
    # the base voice on request
    _, notes, view = service.speak("Hello there.", "base", None, None, "default", "espeak")
    assert view is None and notes.startswith("- espeak-ng base voice through")


@pytest.mark.parametrize("acoustic, seed, message", [
    ("/etc/passwd", None, "unknown acoustic model '/etc/passwd'"),
    ("../t2.pth", None, "unknown acoustic model '../t2.pth'"),
    ("tiny-extra", None, "model 'tiny-extra' is a mel vocoder, not an acoustic model"),
    ("espeak", "x", "seed must be a whole number, got 'x'"),
    ("espeak", 1.5, "seed must be a whole number from 0 to 2147483647"),
    ("espeak", 2**31, "seed must be a whole number from 0 to 2147483647"),
])
def test_requests_are_checked(setup, tmp_path, acoustic, seed, message) -> None:
    service = make_service(setup, tmp_path)
    with pytest.raises((ChoiceError, RequestError)) as caught:
        service.speak("Hello.", "base", None, None, "default", acoustic, seed)
    assert message in str(caught.value)


def test_a_new_seed_each_time_unless_given(setup, tmp_path) -> None:
    service = make_service(setup, tmp_path)
    service.download_model(NAME)
    seeds = set()
    for seed in (-1, None, ""):
        _, notes, _ = service.speak("Hello.", "base", None, None, "default", NAME, seed)
        seeds.add(notes.split("(seed ")[1].split(")")[0])
    assert len(seeds) == 3


def test_an_app_started_with_a_tacotron2_file_offers_it_first(setup, tmp_path) -> None:
    t2 = save_tiny_tacotron2(tmp_path / "mine.pth")
    service = make_service(setup, tmp_path, acoustic=str(t2))
    assert service.catalog.acoustic_choices()[0] == ("mine.pth (default)", "default")
    assert service.catalog.preselected_acoustic() == "default"
    assert service.missing_models()["text to speech"] == []
    _, notes, view = service.speak("Hello.", "base", None, None, "default", "default", 1)
    assert "**mine.pth** (seed 1)" in notes and view is not None
    assert service.status()["models"]["acoustic"] == "mine.pth"  # the server's folders hidden
    pixels = np.asarray(Image.open(service.tts_view(None, view)).convert("RGB"))
    assert (pixels[160:164] == 255).all()
