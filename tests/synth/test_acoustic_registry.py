"""The Tacotron2 models in the registry (assets/models.json, kind ``acoustic_model``): the
entries name torchaudio's files, the parser checks an acoustic model's config, and the hub
downloads one by name through the cache (a local HTTP server) and loads it once."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from synth.acoustic import hifigan_ljspeech_mel
from synth.acoustic.tacotron2 import (PUBLISHED, Tacotron2Acoustic, Tacotron2Params,
                                      load_tacotron2_entry)
from synth.hub import ModelHub, ModelSpec
from synth.models import ModelCache, ModelKindError, ModelRegistry, RegistryError
from tests.conftest import REPO
from tests.synth.pipeline_models import registry_file
from tests.synth.tacotron2_models import (acoustic_entry, save_published, save_tiny_tacotron2,
                                          tiny_params, tiny_tacotron2)
from vocoder.config import AudioConfig
from vocoder.errors import InputError

NAMES = ["tacotron2-characters-ljspeech", "tacotron2-phonemes-ljspeech"]


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    return ModelRegistry.load(REPO / "assets" / "models.json")


def test_entries_name_torchaudios_files_with_their_sizes(registry) -> None:
    entries = [e for e in registry if e.kind == "acoustic_model"]
    assert [e.name for e in entries] == NAMES
    for entry in entries:
        architecture, symbols, mel, params = entry.acoustic_config()
        assert architecture == "tacotron2" and entry.licence == "BSD-2-Clause"
        assert entry.urls == (f"https://download.pytorch.org/torchaudio/models/{entry.filename}",)
        assert PUBLISHED[entry.filename] == (symbols, "hifigan")
        assert params == dataclasses.asdict(Tacotron2Params.ljspeech(symbols))
        assert mel == hifigan_ljspeech_mel()
        assert entry.sha256 is None and "not published" in entry.sha256_note
        assert f"{entry.approx_size:,}" in entry.size_note
    assert [e.size_text for e in entries] == ["~107.4 MiB", "~107.5 MiB"]
    assert registry.get(NAMES[0]).describe() == \
        "tacotron2-characters-ljspeech (acoustic model, ~107.4 MiB)"


def test_an_entry_config_loads_its_file(registry, tmp_path) -> None:
    entry = registry.get("tacotron2-characters-ljspeech")
    config = dict(entry.config, params=dataclasses.asdict(tiny_params()))
    path = save_published(tiny_tacotron2(), tmp_path / entry.filename)
    model = load_tacotron2_entry(path, config, name=entry.name)
    assert model.name == entry.name and model.audio == hifigan_ljspeech_mel()
    # without 'params' the shapes are read from the file
    shaped = load_tacotron2_entry(path, {k: v for k, v in config.items() if k != "params"})
    assert torch.equal(shaped.model.embedding.weight, model.model.embedding.weight)
    with pytest.raises(InputError, match="unknown Tacotron2 parameter 'n_layers'"):
        load_tacotron2_entry(path, dict(config, params={"n_layers": 3}), name=entry.name)
    with pytest.raises(InputError, match="'symbols' must be one of characters, phonemes"):
        load_tacotron2_entry(path, dict(config, symbols="graphemes"), name=entry.name)
    with pytest.raises(InputError, match="needs 'symbols' and 'mel'"):
        load_tacotron2_entry(path, {"symbols": "characters"}, name=entry.name)


@pytest.mark.parametrize("change, message", [
    ({"config": None}, "'config' is required for acoustic models: 'symbols'"),
    ({"symbols": "graphemes"}, "'config.symbols' must be one of characters, phonemes, got "
                               "'graphemes'"),
    ({"architecture": "fastspeech2"}, "'config.architecture' must be one of tacotron2, got "
                                      "'fastspeech2'"),
    ({"mel": [80]}, "'config.mel' must be an object of mel settings"),
    ({"mel": {"num_mels": 80, "hop": 256}}, "'config.mel' has unknown key 'hop'"),
    ({"mel": {"num_mels": 0}}, "'config.mel' is not valid: mel: 'num_mels' must be in 1..512"),
    ({"params": [1, 2]}, "'config.params' must be an object of the model's arguments"),
])
def test_the_parser_checks_an_acoustic_models_config(tmp_path, change, message) -> None:
    entry = acoustic_entry("tiny-t2", "https://example.org/t2.pth")
    if "config" in change:
        entry["config"] = change["config"]
    else:
        entry["config"].update(change)
    with pytest.raises(RegistryError) as caught:
        ModelRegistry.load(registry_file(tmp_path, [entry]))
    assert f"model 'tiny-t2': {message}" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_hub_downloads_a_tacotron2_by_name_and_loads_it_once(tmp_path, model_server) -> None:
    model = save_tiny_tacotron2(tmp_path / "src" / "t2.pth")
    model_server.files["/models/t2.pth"] = model.read_bytes()
    registry = ModelRegistry.load(registry_file(tmp_path, [
        acoustic_entry("tiny-t2", model_server.url("models/t2.pth"))]))
    hub = ModelHub(ModelCache(registry, tmp_path / "home", progress=False), device="cpu")

    # a model of this kind asked for as another kind is refused before any download
    with pytest.raises(ModelKindError, match="model 'tiny-t2' is an acoustic model, not a mel "
                                             "vocoder"):
        hub.load(ModelSpec("mel_vocoder", "tiny-t2"))
    assert model_server.requests == []

    spec = ModelSpec("acoustic_model", "tiny-t2")
    loaded = hub.load(spec)
    assert isinstance(loaded, Tacotron2Acoustic) and loaded.name == "tiny-t2"
    assert loaded.audio == hifigan_ljspeech_mel() and loaded.device == torch.device("cpu")
    assert hub.load(spec) is loaded and model_server.count("models/t2.pth") == 1
    assert (tmp_path / "home" / "models" / "tiny-t2" / "t2.pth").read_bytes() == \
        model.read_bytes()
    # a local file loads the same weights (shapes read from the file, named by its file)
    local = hub.load(ModelSpec("acoustic_model", str(model)))
    assert local.name == "t2.pth" and local is not loaded
    for key, value in loaded.model.state_dict().items():
        assert torch.equal(local.model.state_dict()[key], value), key


def test_the_shipped_registry_lists_acoustic_models_in_json(tmp_path) -> None:
    raw = json.loads((REPO / "assets" / "models.json").read_text())
    kinds = [m["kind"] for m in raw["models"]]
    assert kinds.count("acoustic_model") == 2
    assert not (REPO / "assets" / "models-acoustic.json").exists()
    assert AudioConfig(**raw["models"][kinds.index("acoustic_model")]["config"]["mel"]) == \
        hifigan_ljspeech_mel()
