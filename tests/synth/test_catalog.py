"""What a web user may pick by name (synth.catalog): names never leave the models folder,
choices say what is downloaded and how big it is, voice names are checked."""

from __future__ import annotations

import pytest

from synth.catalog import ChoiceError, ModelCatalog, display_name
from synth.models import ModelCache, ModelRegistry
from tests.synth.service_models import build_app_models


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_app_models(tmp_path_factory.mktemp("catalog-models"))


def catalog(models, tmp_path, default: str | None = None) -> ModelCatalog:
    cache = ModelCache(ModelRegistry.load(models.registry), models.home)
    return ModelCatalog(cache, default or str(models.vocoder), models.models_dir,
                        tmp_path / "voices")


def test_vocoder_names_never_leave_the_models_folder(models, tmp_path) -> None:
    cat = catalog(models, tmp_path)
    outside = tmp_path / "secret" / "g_00000001"
    outside.parent.mkdir()
    outside.write_bytes(models.vocoder.read_bytes())
    (outside.parent / "config.json").write_bytes((models.vocoder.parent / "config.json").read_bytes())
    link = models.models_dir / "escape"
    link.symlink_to(outside.parent, target_is_directory=True)
    try:
        assert "escape/g_00000001" not in cat.model_files()
        for name in (str(outside), "escape/g_00000001",
                     f"../../{outside.relative_to(tmp_path.parent)}", "tiny/../../models.json",
                     "tiny/g_00000001\x00.pt"):
            with pytest.raises(ChoiceError, match="unknown vocoder"):
                cat.resolve_vocoder(name)
        assert cat.resolve_vocoder("") is None and cat.resolve_vocoder("default") is None
        assert cat.resolve_vocoder("tiny/g_00000001") == str(models.vocoder)
    finally:
        link.unlink()
    assert cat.resolve_vocoder("griffinlim") == "griffinlim"
    assert cat.resolve_vocoder("tiny-extra") == "tiny-extra"
    with pytest.raises(ChoiceError, match="only applies to text to speech"):
        cat.resolve_vocoder("none", allow_none=False)
    with pytest.raises(ChoiceError, match="'tiny-knnvc' is a feature vocoder, not a mel vocoder"):
        cat.resolve_vocoder("tiny-knnvc")


def test_choices_say_what_is_downloaded_and_how_big(models, tmp_path) -> None:
    cat = catalog(models, tmp_path)
    choices = cat.vocoder_choices()
    assert choices[0] == ("g_00000001 (default)", "default")
    labels = dict((v, label) for label, v in choices)
    assert labels["tiny-extra"].startswith("tiny-extra (not downloaded, ") or \
        labels["tiny-extra"] == "tiny-extra (downloaded)"
    assert labels["griffinlim"] == "griffinlim (no weights, low quality)"
    assert labels["tiny/g_00000001"] == "tiny/g_00000001 (models folder)"
    assert cat.preselected_vocoder() == "default"
    # A default that is not downloaded is not preselected: a models-folder file is.
    missing = catalog(models, tmp_path, default="tiny-extra")
    if not missing.present("tiny-extra"):
        assert missing.preselected_vocoder() == "tiny/g_00000001"
    assert display_name(str(models.vocoder)) == "g_00000001" and display_name("x-y") == "x-y"


def test_voice_names(models, tmp_path) -> None:
    cat = catalog(models, tmp_path)
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "alice.pt").write_bytes(b"x")
    (tmp_path / "voices" / "bad name.pt").write_bytes(b"x")
    assert cat.voice_names() == ["alice"]
    assert cat.voice_path("alice") == (tmp_path / "voices" / "alice.pt").resolve()
    with pytest.raises(ChoiceError, match=r"no saved voice called 'bob' \(saved voices: alice\)"):
        cat.voice_path("bob")
    with pytest.raises(ChoiceError, match="choose a saved voice"):
        cat.voice_path("")
    with pytest.raises(ChoiceError, match="is not allowed"):
        cat.new_voice_path("../evil")
