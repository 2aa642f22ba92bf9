"""The published family vocoders listed in assets/models.json: real registry entries that
download by name (their files side by side, or an archive unpacked), with the family and the
mel each needs."""

import json

from tests.conftest import REPO
from vocoder.checkpoint import family_names
from vocoder.mel import MEL_PRESETS
from vocoder.models import ModelRegistry


def test_family_model_entries_name_their_publisher_files_and_licence():
    raw = {e["name"]: e for e in json.loads((REPO / "assets" / "models.json").read_text())
           ["models"]}
    registry = ModelRegistry.load(REPO / "assets" / "models.json")
    entries = [e for e in registry if e.family]
    assert {e.family for e in entries} == {"speechbrain", "espnet", "coqui", "bigvgan"}
    assert len(entries) == 13
    for e in entries:
        assert e.family in family_names() and e.kind == "mel_vocoder"
        assert all(u.startswith("https://") for u in e.urls)
        assert e.licence and e.licence_url.startswith("https://") and e.source
        assert all(f.sha256 is None for f in e.files) and "not published" in e.sha256_note
        assert e.mel_preset is None or e.mel_preset in MEL_PRESETS
        assert "files" in raw[e.name] and e.notes  # the notes say which mel it expects
        if e.family == "speechbrain":  # its files do not say which mel: a preset does
            assert e.mel_preset in MEL_PRESETS
            assert [f.filename for f in e.files] == ["generator.ckpt", "hyperparams.yaml"]
            assert e.vocoder_source() == ("speechbrain", e.mel_preset)
            assert e.size_text == "~53.2 MiB"
        elif e.family == "bigvgan":
            assert [f.filename for f in e.files] == ["bigvgan_generator.pt", "config.json"]
            assert e.vocoder_source() == ("bigvgan", None)
            assert e.size_text.startswith("~")
        else:  # one archive, unpacked side by side; the main file found by its pattern
            (archive,) = e.files
            assert archive.unpack and e.is_archive
            assert e.main == {"espnet": "checkpoint-*.pkl", "coqui": "model_file.pth*"}[e.family]
            assert e.main_matches("checkpoint-2500000steps.pkl") == (e.family == "espnet")
    assert registry.get("speechbrain-hifigan-libritts-16k").mel_preset == "speechbrain-16k"
    drive = registry.get("pwg-hifigan-ljspeech").urls
    assert len(drive) == 2 and all("1i6-hR_ksEssCYNlNII86v3AoeA1JcuWD" in u for u in drive)
