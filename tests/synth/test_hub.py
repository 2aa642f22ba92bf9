"""ModelHub: a spec loaded once (threads included), concurrent loads of different specs, the
memory bound (least recently used released, added components kept), kinds as plug-ins, and
every missing model named at once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch

from synth.hub import ModelHub, ModelSpec, component_bytes
from synth.models import ModelCache, ModelKindError, ModelRegistry, ModelUnavailableError
from tests.synth.pipeline_models import registry_file, save_tiny_mel_vocoder
from vocoder.families import LoadedVocoder
from vocoder.griffinlim import GriffinLimVocoder
from vocoder.inference import Vocoder
from vocoder.mel import HiFiGANMel


def files_only() -> ModelCache:
    return ModelCache(ModelRegistry([]), Path("/nonexistent-hifisynth-home"))


def tensor_hub(max_bytes: int | None = None, delay: float = 0.0) -> tuple[ModelHub, list[str]]:
    """A hub with one extra kind, ``tensor``: source ``"<name>:<floats>"`` -> a float32 tensor
    of that many elements (4 bytes each); every load is logged."""
    calls: list[str] = []

    def load_tensor(hub: ModelHub, spec: ModelSpec) -> torch.Tensor:
        calls.append(spec.source)
        time.sleep(delay)
        return torch.zeros(int(spec.source.split(":")[1]))

    return ModelHub(files_only(), device="cpu", max_bytes=max_bytes,
                    loaders={"tensor": load_tensor}), calls


def spec(name: str, floats: int = 10) -> ModelSpec:
    return ModelSpec("tensor", f"{name}:{floats}")


def test_one_spec_loads_once_even_when_threads_ask_together() -> None:
    hub, calls = tensor_hub(delay=0.2)
    results: list[torch.Tensor] = []
    barrier = threading.Barrier(6)

    def ask() -> None:
        barrier.wait()
        results.append(hub.load(spec("a")))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["a:10"]
    assert all(r is results[0] for r in results)
    assert hub.load(spec("a")) is results[0] and calls == ["a:10"]


def test_different_specs_load_at_the_same_time() -> None:
    """Two loads that each wait for the other finish only if the hub runs them concurrently."""
    both = threading.Barrier(2, timeout=10)

    def load_waiting(hub: ModelHub, spec: ModelSpec) -> str:
        both.wait()  # raises BrokenBarrierError after 10 s if loads were serialised
        return spec.source

    hub = ModelHub(files_only(), device="cpu", loaders={"slow": load_waiting})
    out: dict[str, str] = {}
    threads = [threading.Thread(target=lambda n=n: out.update({n: hub.load(ModelSpec("slow", n))}))
               for n in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {"x": "x", "y": "y"}


def test_a_failed_load_is_not_remembered() -> None:
    attempts = []

    def flaky(hub: ModelHub, spec: ModelSpec) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("disk hiccup")
        return "loaded"

    hub = ModelHub(files_only(), device="cpu", loaders={"flaky": flaky})
    with pytest.raises(OSError, match="disk hiccup"):
        hub.load(ModelSpec("flaky", "m"))
    assert hub.held() == []
    assert hub.load(ModelSpec("flaky", "m")) == "loaded" and len(attempts) == 2
    with pytest.raises(ValueError, match=r"no loader for model kind 'language_model' \(known "
                                         r"kinds: acoustic_model, base_voice, feature_extractor"):
        hub.load(ModelSpec("language_model", "gpt"))


def test_memory_bound_releases_the_least_recently_used() -> None:
    hub, calls = tensor_hub(max_bytes=1000)  # 250 floats
    a, b = hub.load(spec("a", 100)), hub.load(spec("b", 100))
    assert hub.nbytes == 800
    hub.load(spec("a", 100))  # a is now the most recently used
    hub.load(spec("c", 100))  # 1200 bytes > 1000: b goes
    assert [h.spec.source for h in hub.held()] == ["a:100", "c:100"]
    assert hub.load(spec("a", 100)) is a and calls.count("a:100") == 1
    assert hub.load(spec("b", 100)) is not b and calls.count("b:100") == 2  # loaded again
    # A component bigger than the bound is still held, alone.
    hub.load(spec("huge", 1000))
    assert [h.spec.source for h in hub.held()] == ["huge:1000"]
    # Added components are never released, and the bound counts them.
    pinned = hub.add(ModelSpec("tensor", "mine"), torch.zeros(200))
    hub.load(spec("d", 10))
    held = {h.spec.source: h for h in hub.held()}
    assert set(held) == {"mine", "d:10"} and held["mine"].pinned and held["mine"].nbytes == 800
    assert hub.load(ModelSpec("tensor", "mine")) is pinned
    hub.release()
    assert [h.spec.source for h in hub.held()] == ["mine"]
    hub.release(ModelSpec("tensor", "mine"))
    assert hub.held() == []
    with pytest.raises(ValueError, match="max_bytes must be positive"):
        ModelHub(files_only(), max_bytes=0)


def test_component_bytes_counts_parameters_and_buffers_once(tmp_path) -> None:
    voc = Vocoder.from_checkpoint(save_tiny_mel_vocoder(tmp_path), device="cpu")
    params = sum(p.numel() * p.element_size() for p in voc.generator.parameters())
    assert component_bytes(voc) == params == component_bytes(voc.generator)
    gl = GriffinLimVocoder(voc.audio, device="cpu")
    storage = sum(t.untyped_storage().nbytes() for t in (gl.inverse_basis, gl.window))
    assert component_bytes(gl) == storage >= (gl.inverse_basis.numel() + gl.window.numel()) * 4
    shared = torch.nn.Linear(10, 10)
    twice = torch.nn.Sequential(shared, shared)
    assert component_bytes(twice) == component_bytes(shared) == (100 + 10) * 4
    assert component_bytes("espeak has no tensors") == 0


def test_vocoders_by_name_and_path_load_once(tmp_path) -> None:
    path = save_tiny_mel_vocoder(tmp_path / "voc")
    registry = ModelRegistry.load(registry_file(tmp_path, [
        {"name": "tiny", "kind": "mel_vocoder", "filename": "g", "urls": [path.as_uri()],
         "config": str(path.parent / "config.json")}]))
    hub = ModelHub(ModelCache(registry, tmp_path / "home", progress=False), device="cpu")
    by_name = hub.load(ModelSpec("mel_vocoder", "tiny"))
    assert isinstance(by_name, LoadedVocoder) and isinstance(by_name.vocoder, Vocoder)
    assert hub.load(ModelSpec("mel_vocoder", "tiny")) is by_name
    assert isinstance(by_name.frontend, HiFiGANMel) and by_name.family == "hifigan"
    assert by_name.generator_state is None  # the hub keeps no second copy of the weights
    assert component_bytes(by_name) == component_bytes(by_name.vocoder.generator) + \
        component_bytes(by_name.frontend)
    by_path = hub.load(ModelSpec.make("mel_vocoder", path))
    assert by_path is not by_name
    assert by_path.vocoder.sample_rate == by_name.vocoder.sample_rate == 16000
    assert ModelSpec.make("mel_vocoder", path).label == "g_00000001"
    gl = hub.load(ModelSpec.make("mel_vocoder", "griffinlim", n_iter=3))
    assert isinstance(gl.vocoder, GriffinLimVocoder) and gl.vocoder.n_iter == 3
    assert isinstance(gl.frontend, HiFiGANMel) and gl.silence == pytest.approx(-11.5129, abs=1e-4)
    assert hub.load(ModelSpec.make("mel_vocoder", "griffinlim", n_iter=4)) is not gl
    voice = hub.load(ModelSpec.make("base_voice", "en-us", rate=200))
    assert voice.rate == 200 and voice.sample_rate == 22050


def test_every_missing_model_is_named_at_once_and_kinds_are_checked_first(tmp_path) -> None:
    path = save_tiny_mel_vocoder(tmp_path / "voc")
    config = str(path.parent / "config.json")
    registry = ModelRegistry.load(registry_file(tmp_path, [
        {"name": "ext", "kind": "feature_extractor", "filename": "e.pth",
         "urls": [(tmp_path / "e.pth").as_uri()], "config": {"torchaudio_bundle": "WAVLM_BASE"},
         "approx_size": 3_000_000},
        {"name": "fv", "kind": "feature_vocoder", "filename": "f.pt",
         "urls": [(tmp_path / "f.pt").as_uri()], "config": config, "size": 4096},
        {"name": "mv", "kind": "mel_vocoder", "filename": "g", "urls": [path.as_uri()],
         "config": config}]))
    cache = ModelCache(registry, tmp_path / "home", auto_download=False)
    hub = ModelHub(cache, device="cpu")
    specs = [ModelSpec("feature_extractor", "ext"), ModelSpec("feature_vocoder", "fv")]
    assert [e.name for e in hub.missing(specs)] == ["ext", "fv"]
    with pytest.raises(ModelUnavailableError) as info:
        hub.fetch(specs)
    assert info.value.models == ("ext", "fv")
    assert info.value.kinds == ("feature_extractor", "feature_vocoder")
    assert str(info.value).startswith("2 models are missing: ext (feature extractor, ~2.9 MiB), "
                                      "fv (feature vocoder, 4.0 KiB). (1) model 'ext'")
    assert str(cache.cache_path("fv")) in str(info.value)
    # A model of the wrong kind is refused before anything is fetched.
    with pytest.raises(ModelKindError, match="'mv' is a mel vocoder, not a feature vocoder") as kind:
        hub.load(ModelSpec("feature_vocoder", "mv"))
    assert (kind.value.model, kind.value.kind, kind.value.expected) == \
        ("mv", "mel_vocoder", "feature_vocoder")
    assert not cache.cache_path("mv").exists()
    # Downloads off: nothing fetched behind the caller's back; an explicit download works.
    with pytest.raises(ModelUnavailableError, match="'mv' .* is not in the cache"):
        hub.load(ModelSpec("mel_vocoder", "mv"))
    cache.download("mv")
    assert hub.missing([ModelSpec("mel_vocoder", "mv")]) == []
    assert isinstance(hub.load(ModelSpec("mel_vocoder", "mv")).vocoder, Vocoder)
