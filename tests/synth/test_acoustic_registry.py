"""The registry entries of the Tacotron2 models (staged in assets/models-acoustic.json until
synth.models accepts kind 'acoustic_model'): they parse with the real registry parser, name
torchaudio's files, and their configs load a model."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from synth.acoustic import hifigan_ljspeech_mel
from synth.acoustic.tacotron2 import PUBLISHED, Tacotron2Params, load_tacotron2_entry
from synth.models import ModelRegistry
from tests.conftest import REPO
from tests.synth.tacotron2_models import save_published, tiny_params, tiny_tacotron2
from vocoder.config import AudioConfig
from vocoder.errors import InputError

STAGED = REPO / "assets" / "models-acoustic.json"


@pytest.fixture
def registry(monkeypatch) -> ModelRegistry:
    parser = sys.modules[ModelRegistry.__module__]  # where the kind check reads KINDS
    if "acoustic_model" not in parser.KINDS:
        monkeypatch.setattr(parser, "KINDS", parser.KINDS + ("acoustic_model",))
    return ModelRegistry.load(STAGED)


def test_entries_parse_and_name_torchaudios_files(registry) -> None:
    assert registry.names() == ["tacotron2-characters-ljspeech", "tacotron2-phonemes-ljspeech"]
    for entry in registry:
        symbols = entry.config["symbols"]
        assert entry.kind == "acoustic_model" and entry.licence == "BSD-2-Clause"
        assert entry.urls == (f"https://download.pytorch.org/torchaudio/models/{entry.filename}",)
        assert PUBLISHED[entry.filename] == (symbols, "hifigan")
        assert entry.config["params"] == dataclasses.asdict(Tacotron2Params.ljspeech(symbols))
        assert AudioConfig(**entry.config["mel"]) == hifigan_ljspeech_mel()


def test_an_entry_config_loads_its_file(registry, tmp_path) -> None:
    entry = registry.get("tacotron2-characters-ljspeech")
    config = dict(entry.config, params=dataclasses.asdict(tiny_params()))
    path = save_published(tiny_tacotron2(), tmp_path / entry.filename)
    model = load_tacotron2_entry(path, config, name=entry.name)
    assert model.name == entry.name and model.audio == hifigan_ljspeech_mel()
    with pytest.raises(InputError, match="unknown Tacotron2 parameter 'n_layers'"):
        load_tacotron2_entry(path, dict(config, params={"n_layers": 3}), name=entry.name)
    with pytest.raises(InputError, match="'symbols' must be one of characters, phonemes"):
        load_tacotron2_entry(path, dict(config, symbols="graphemes"), name=entry.name)
    with pytest.raises(InputError, match="needs 'symbols', 'mel'"):
        load_tacotron2_entry(path, {"symbols": "characters"}, name=entry.name)
