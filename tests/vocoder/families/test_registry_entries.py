"""The published family vocoders listed in assets/models.json (family_models)."""

import json

from tests.conftest import REPO
from vocoder.checkpoint import family_names
from vocoder.mel import MEL_PRESETS


def test_family_model_entries_name_their_publisher_files_and_licence():
    data = json.loads((REPO / "assets" / "models.json").read_text())
    entries = data["family_models"]
    names = [e["name"] for e in entries]
    assert len(set(names)) == len(names)
    assert not set(names) & {m["name"] for m in data["models"]}
    assert {e["family"] for e in entries} == {"speechbrain", "espnet", "coqui", "bigvgan"}
    for e in entries:
        assert e["family"] in family_names()
        assert e["files"] and all(f["urls"] and all(u.startswith("https://") for u in f["urls"])
                                  for f in e["files"])
        assert e["licence"] and e["licence_url"].startswith("https://") and e["source"]
        assert e["sha256"] is None and "not published" in e["sha256_note"]
        if e["family"] == "speechbrain":  # its files do not say which mel: a preset does
            assert e["mel"] in MEL_PRESETS
            assert [f["filename"] for f in e["files"]] == ["generator.ckpt", "hyperparams.yaml"]
