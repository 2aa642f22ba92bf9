"""vocoder.models: the registry file, the cache, and downloads from a real local HTTP server."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from pathlib import Path

import pytest

from vocoder.models import (KINDS, ModelCache, ModelChecksumError, ModelNotFoundError,
                          ModelRegistry, ModelUnavailableError, RegistryError, default_home,
                          offline_from_env, sha256_file)
from vocoder.config import HiFiGANConfig, knnvc_config, v3_config

REPO = Path(__file__).resolve().parents[2]
BLOB = bytes(range(256)) * 1200 + b"tail"  # 307204 bytes, several download chunks
SHA = hashlib.sha256(BLOB).hexdigest()
V3_CONFIG = "configs/v3.json"


def write_registry(tmp_path: Path, entries: list[dict]) -> Path:
    """A registry file with a V3 config file beside it; entries are completed with defaults."""
    (tmp_path / "configs").mkdir(exist_ok=True)
    (tmp_path / V3_CONFIG).write_text(json.dumps(v3_config().to_dict()))
    full = []
    for entry in entries:
        item = {"kind": "mel_vocoder", "filename": f"{entry['name']}.pt", "sha256": None,
                "size": None, "config": V3_CONFIG, "licence": "MIT", "source": "test"}
        item.update(entry)
        full.append(item)
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"format": 1, "models": full}))
    return path


def make_cache(tmp_path: Path, entries: list[dict], **kwargs) -> ModelCache:
    registry = ModelRegistry.load(write_registry(tmp_path, entries))
    kwargs.setdefault("messages", io.StringIO())
    kwargs.setdefault("retry_wait", 0.0)
    return ModelCache(registry=registry, home=tmp_path / "home", **kwargs)


# ---- the shipped registry ----------------------------------------------------------------


def test_shipped_registry_entries() -> None:
    registry = ModelRegistry.load(REPO / "assets" / "models.json")
    # torchaudio's other self-supervised encoders: tests/synth/test_features.py
    registry = ModelRegistry([e for e in registry
                              if e.kind != "feature_extractor" or e.name == "wavlm-large"])
    assert registry.names()[:4] == ["wavlm-large", "hifigan-v3-ljspeech",
                                    "knnvc-hifigan-prematched", "knnvc-hifigan"]
    # the other toolkits' vocoders (tests/vocoder/families/test_registry_entries.py) and the
    # acoustic models (tests/synth/test_acoustic_registry.py)
    assert all(registry.get(n).family for n in registry.names()[4:]
               if registry.get(n).kind == "mel_vocoder")
    assert {registry.get(n).kind for n in registry.names()[4:]} == {"mel_vocoder",
                                                                    "acoustic_model"}
    registry = ModelRegistry([registry.get(n) for n in registry.names()[:4]])
    urls = {e.name: e.urls for e in registry}
    assert urls["wavlm-large"] == ("https://download.pytorch.org/torchaudio/models/wavlm_large.pth",)
    assert urls["hifigan-v3-ljspeech"] == (
        "https://download.pytorch.org/torchaudio/models/hifigan_vocoder_v3_ljspeech.pth",)
    assert urls["knnvc-hifigan-prematched"] == (
        "https://github.com/bshall/knn-vc/releases/download/v0.1/prematch_g_02500000.pt",)
    assert urls["knnvc-hifigan"] == (
        "https://github.com/bshall/knn-vc/releases/download/v0.1/g_02500000.pt",)
    for entry in registry:
        assert entry.kind in KINDS
        assert entry.licence and entry.source
        # nothing was published: the entry says so and the hash is recorded on first download
        assert entry.sha256 is None and "not published" in entry.sha256_note
        assert entry.filename == entry.urls[0].rsplit("/", 1)[1]
    assert registry.get("knnvc-hifigan").requires == ("wavlm-large",)
    # No exact size is published; the approximate one is shown before a download.
    sizes = {e.name: e.size_text for e in registry}
    assert sizes == {"wavlm-large": "~1.2 GiB", "hifigan-v3-ljspeech": "~5.6 MiB",
                     "knnvc-hifigan-prematched": "~63.2 MiB", "knnvc-hifigan": "~63.2 MiB"}
    assert all(e.size is None and f"{e.approx_size:,}" in e.size_note for e in registry
               if e.name != "knnvc-hifigan")
    assert registry.get("hifigan-v3-ljspeech").describe() == \
        "hifigan-v3-ljspeech (mel vocoder, ~5.6 MiB)"


def test_shipped_vocoder_configs_are_the_published_presets() -> None:
    registry = ModelRegistry.load(REPO / "assets" / "models.json")
    v3 = registry.get("hifigan-v3-ljspeech").hifigan_config()
    assert isinstance(v3, HiFiGANConfig)
    assert v3.generator == v3_config().generator and v3.audio == v3_config().audio
    for name in ("knnvc-hifigan-prematched", "knnvc-hifigan"):
        cfg = registry.get(name).hifigan_config()
        assert cfg.is_feature_vocoder and cfg.input_channels == 1024
        assert cfg.generator == knnvc_config().generator and cfg.audio == knnvc_config().audio
        assert cfg.train.segment_size == 7040
    wavlm = registry.get("wavlm-large")
    assert wavlm.config["sample_rate"] == 16000 and wavlm.config["params"]["encoder_num_layers"] == 24
    with pytest.raises(Exception, match="not a vocoder"):
        wavlm.hifigan_config()


@pytest.mark.parametrize("change, message", [
    ({"kind": "vocoder"}, "'kind' must be one of"),
    ({"sha256": "abc"}, "'sha256' must be 64 hex digits"),
    ({"size": -3}, "'size' must be a positive"),
    ({"urls": []}, "'urls' must list at least one URL"),
    ({"urls": ["ftp://x/y"]}, "http\\(s\\):// or file://"),
    ({"filename": "../evil.pt"}, "'filename' must be a plain file name"),
    ({"name": "Bad Name"}, "'name' must be lower-case"),
    ({"config": None}, "'config' is required for vocoders"),
    ({"config": "configs/missing.json"}, "does not exist"),
    ({"requires": ["nothing"]}, "unknown model 'nothing'"),
    ({"licence": None}, "missing 'licence'"),
    ({"size": True}, "'size' must be int"),
    ({"approx_size": 0}, "'approx_size' must be a positive"),
    ({"approx_size": "5 MB"}, "'approx_size' must be int"),
])
def test_registry_rejects_bad_entries(tmp_path: Path, change: dict, message: str) -> None:
    path = write_registry(tmp_path, [{"name": "good", "urls": ["http://127.0.0.1/x"], **change}])
    with pytest.raises(RegistryError, match=message) as info:
        ModelRegistry.load(path)
    assert str(path) in str(info.value)


def test_registry_file_errors(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="registry file not found"):
        ModelRegistry.load(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(RegistryError, match="not valid JSON"):
        ModelRegistry.load(bad)
    bad.write_text(json.dumps({"format": 9, "models": []}))
    with pytest.raises(RegistryError, match="'format' 9 is not supported"):
        ModelRegistry.load(bad)
    dup = write_registry(tmp_path, [{"name": "a", "urls": ["http://h/a"]},
                                    {"name": "a", "urls": ["http://h/b"]}])
    with pytest.raises(RegistryError, match="'a' appears twice"):
        ModelRegistry.load(dup)


def test_unknown_name_lists_known_models(tmp_path: Path) -> None:
    cache = make_cache(tmp_path, [{"name": "voc-one", "urls": ["http://h/a"]}])
    with pytest.raises(ModelNotFoundError, match="did you mean 'voc-one'.*voc-one"):
        cache.resolve("voc-on")


def test_env_settings(tmp_path: Path) -> None:
    assert default_home({"HIFISYNTH_HOME": str(tmp_path)}) == tmp_path
    assert default_home({}) == Path.home() / ".cache" / "hifisynth"
    assert offline_from_env({"HIFISYNTH_OFFLINE": "1"}) and not offline_from_env({})
    reg = write_registry(tmp_path, [{"name": "m", "urls": ["http://h/a"]}])
    cache = ModelCache.from_env(env={"HIFISYNTH_HOME": str(tmp_path / "h"),
                                     "HIFISYNTH_OFFLINE": "yes", "HIFISYNTH_REGISTRY": str(reg)})
    assert cache.offline and cache.home == tmp_path / "h" and cache.registry.names() == ["m"]
    assert cache.cache_path("m") == tmp_path / "h" / "models" / "m" / "m.pt"


# ---- downloads ---------------------------------------------------------------------------


def test_download_with_progress_and_recorded_checksum(tmp_path: Path, model_server) -> None:
    model_server.files["/m.pt"] = BLOB
    seen: list[tuple[int, int | None]] = []
    log = io.StringIO()
    cache = make_cache(tmp_path, [{"name": "m", "urls": [model_server.url("m.pt")]}],
                       messages=log, on_progress=lambda done, total: seen.append((done, total)),
                       chunk_size=50_000)
    assert cache.status("m").state == "missing"
    path = cache.get("m")
    assert path == tmp_path / "home" / "models" / "m" / "m.pt"
    assert path.read_bytes() == BLOB
    assert not path.with_name("m.pt.part").exists()
    # progress: callback per chunk up to the total, and a tqdm bar on the messages stream
    assert seen[-1] == (len(BLOB), len(BLOB)) and len(seen) == 7
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    text = log.getvalue()
    assert "m: 100%" in text and "300k/300k" in text
    # no published sha256: the download's digest is recorded and reported
    assert f"recorded sha256 {SHA}" in text
    stamp = json.loads(path.with_name(".m.pt.verified.json").read_text())
    assert stamp["sha256"] == SHA and stamp["sha256_source"] == "recorded"
    assert cache.status("m").state == "verified"
    # a second use neither downloads nor complains
    assert cache.get("m") == path and model_server.count("m.pt") == 1


def test_checksum_pass(tmp_path: Path, model_server) -> None:
    model_server.files["/m.pt"] = BLOB
    cache = make_cache(tmp_path, [{"name": "m", "urls": [model_server.url("m.pt")],
                                   "sha256": SHA.upper(), "size": len(BLOB)}], progress=False)
    path = cache.download("m")
    assert sha256_file(path) == SHA
    stamp = json.loads(path.with_name(".m.pt.verified.json").read_text())
    assert stamp["sha256_source"] == "registry"
    assert "recorded" not in cache.messages.getvalue()


def test_checksum_fail_deletes_the_download(tmp_path: Path, model_server) -> None:
    model_server.files["/m.pt"] = BLOB
    wrong = hashlib.sha256(b"other").hexdigest()
    cache = make_cache(tmp_path, [{"name": "m", "urls": [model_server.url("m.pt")],
                                   "sha256": wrong}], progress=False)
    with pytest.raises(ModelChecksumError) as info:
        cache.get("m")
    message = str(info.value)
    assert f"sha256 {SHA}, expected {wrong}" in message
    assert model_server.url("m.pt") in message and str(cache.cache_path("m")) in message
    assert not cache.cache_path("m").exists()
    assert not cache.cache_path("m").with_name("m.pt.part").exists()


def test_size_mismatch_is_reported(tmp_path: Path, model_server) -> None:
    model_server.files["/m.pt"] = BLOB
    cache = make_cache(tmp_path, [{"name": "m", "urls": [model_server.url("m.pt")],
                                   "size": 1000}], progress=False)
    with pytest.raises(ModelUnavailableError, match=f"server offers {len(BLOB)} bytes, the "
                                                    "registry expects 1000"):
        cache.get("m")


def test_resume_partial_file_with_range(tmp_path: Path, model_server) -> None:
    model_server.files["/m.pt"] = BLOB
    cache = make_cache(tmp_path, [{"name": "m", "urls": [model_server.url("m.pt")],
                                   "sha256": SHA}], progress=False)
    part = cache.cache_path("m").with_name("m.pt.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(BLOB[:100_000])
    assert cache.status("m").state == "partial" and cache.status("m").bytes == 100_000
    path = cache.get("m")
    assert path.read_bytes() == BLOB
    assert model_server.requests == [("/m.pt", "bytes=100000-", 206)]
    assert "resuming download of 'm' at byte 100000" in cache.messages.getvalue()


def test_resume_when_server_ignores_range(tmp_path: Path, model_server) -> None:
    model_server.files["/m.pt"] = BLOB
    model_server.ignore_range = True
    cache = make_cache(tmp_path, [{"name": "m", "urls": [model_server.url("m.pt")],
                                   "sha256": SHA}], progress=False)
    part = cache.cache_path("m").with_name("m.pt.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 5000)  # garbage that must not survive
    assert cache.get("m").read_bytes() == BLOB
    assert model_server.requests == [("/m.pt", "bytes=5000-", 200)]


def test_complete_part_file_is_finished_without_refetching(tmp_path: Path, model_server) -> None:
    model_server.files["/m.pt"] = BLOB
    cache = make_cache(tmp_path, [{"name": "m", "urls": [model_server.url("m.pt")],
                                   "sha256": SHA}], progress=False)
    part = cache.cache_path("m").with_name("m.pt.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(BLOB)
    assert cache.get("m").read_bytes() == BLOB
    assert model_server.requests == [("/m.pt", f"bytes={len(BLOB)}-", 416)]


def test_broken_connection_is_resumed(tmp_path: Path, model_server) -> None:
    model_server.files["/m.pt"] = BLOB
    model_server.drop_after["/m.pt"] = 120_000
    cache = make_cache(tmp_path, [{"name": "m", "urls": [model_server.url("m.pt")],
                                   "sha256": SHA}], progress=False)
    assert cache.get("m").read_bytes() == BLOB
    assert model_server.requests == [("/m.pt", None, 200), ("/m.pt", "bytes=120000-", 206)]


def test_failed_download_message_and_fallback_url(tmp_path: Path, model_server) -> None:
    model_server.files["/good.pt"] = BLOB
    cache = make_cache(tmp_path, [{"name": "m", "urls": [model_server.url("missing.pt")]},
                                  {"name": "n", "urls": [model_server.url("missing.pt"),
                                                         model_server.url("good.pt")]}],
                       progress=False)
    with pytest.raises(ModelUnavailableError) as info:
        cache.get("m")
    message = str(info.value)
    assert "\n" not in message
    assert f"cannot download model 'm': {model_server.url('missing.pt')} (HTTP 404" in message
    assert f"save it as {cache.cache_path('m')}" in message
    assert "Place the file by hand" in message and "local copy" in message
    # a second URL is tried when the first fails
    assert cache.get("n").read_bytes() == BLOB


def test_unreachable_server_is_one_clear_error(tmp_path: Path) -> None:
    cache = make_cache(tmp_path, [{"name": "m", "urls": ["http://127.0.0.1:9/m.pt"]}],
                       progress=False, retries=1)
    with pytest.raises(ModelUnavailableError, match=r"http://127.0.0.1:9/m.pt \(.*refused"):
        cache.get("m")


def test_offline_never_touches_the_network(tmp_path: Path, model_server) -> None:
    model_server.files["/m.pt"] = BLOB
    url = model_server.url("m.pt")
    cache = make_cache(tmp_path, [{"name": "m", "urls": [url]}], offline=True)
    for call in (lambda: cache.get("m"), lambda: cache.download("m"),
                 lambda: cache.resolve("m")):
        with pytest.raises(ModelUnavailableError) as info:
            call()
        message = str(info.value)
        assert url in message and str(cache.cache_path("m")) in message
        assert "the cache is offline" in message and "place the file by hand" in message
        assert info.value.offline and info.value.models == ("m",)
        assert "HIFISYNTH_OFFLINE" not in message  # the cache was made offline, not the env
    assert model_server.requests == []
    # a file placed by hand is used offline; its digest is recorded on first use
    target = cache.cache_path("m")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(BLOB)
    assert cache.resolve("m") == target
    assert f"recorded sha256 {SHA}" in cache.messages.getvalue()
    assert model_server.requests == []


def test_corrupt_cache_file_is_downloaded_again(tmp_path: Path, model_server) -> None:
    model_server.files["/m.pt"] = BLOB
    cache = make_cache(tmp_path, [{"name": "m", "urls": [model_server.url("m.pt")],
                                   "sha256": SHA}], progress=False)
    path = cache.get("m")
    corrupt = bytearray(BLOB)
    corrupt[1000] ^= 0xFF
    path.write_bytes(bytes(corrupt))
    assert cache.status("m").state == "cached"  # changed since it was checked
    assert cache.get("m").read_bytes() == BLOB
    assert "is corrupt (sha256" in cache.messages.getvalue()
    assert model_server.count("m.pt") == 2


def test_corrupt_cache_file_is_reported_offline(tmp_path: Path, model_server) -> None:
    model_server.files["/m.pt"] = BLOB
    cache = make_cache(tmp_path, [{"name": "m", "urls": [model_server.url("m.pt")]}],
                       progress=False)
    path = cache.get("m")  # no published sha256: recorded now
    path.write_bytes(BLOB[:-1] + b"X")
    offline = ModelCache(registry=cache.registry, home=cache.home, offline=True,
                         messages=io.StringIO())
    with pytest.raises(ModelChecksumError) as info:
        offline.get("m")
    message = str(info.value)
    assert f"cached file {path}" in message and "is corrupt" in message
    assert "recorded when it was first used" in message and model_server.url("m.pt") in message


def test_verify_rehashes_even_an_unchanged_looking_file(tmp_path: Path, model_server) -> None:
    model_server.files["/m.pt"] = BLOB
    cache = make_cache(tmp_path, [{"name": "m", "urls": [model_server.url("m.pt")]}],
                       progress=False)
    path = cache.get("m")
    st = path.stat()
    path.write_bytes(BLOB[:-1] + b"X")  # same size; then restore the old mtime (bit rot)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cache.get("m") == path  # the cheap check trusts the stamp
    with pytest.raises(ModelChecksumError, match="is corrupt"):
        cache.verify("m")


def test_force_download_replaces_the_file(tmp_path: Path, model_server) -> None:
    model_server.files["/m.pt"] = BLOB
    cache = make_cache(tmp_path, [{"name": "m", "urls": [model_server.url("m.pt")]}],
                       progress=False)
    cache.get("m")
    cache.download("m", force=True)
    assert model_server.count("m.pt") == 2


def test_concurrent_downloads_fetch_once(tmp_path: Path, model_server) -> None:
    model_server.files["/m.pt"] = BLOB * 8
    cache = make_cache(tmp_path, [{"name": "m", "urls": [model_server.url("m.pt")]}],
                       progress=False)
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("m")))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 3 and len(set(results)) == 1
    assert results[0].read_bytes() == BLOB * 8
    assert model_server.count("m.pt") == 1


# ---- names and paths ---------------------------------------------------------------------


def test_local_paths_work_wherever_names_do(tmp_path: Path, monkeypatch) -> None:
    cache = make_cache(tmp_path, [{"name": "m", "urls": ["http://127.0.0.1:9/m.pt"]}],
                       offline=True)
    local = tmp_path / "my_vocoder.pt"
    local.write_bytes(b"weights")
    resolved = cache.resolve_model(str(local))
    assert resolved.path == local and resolved.entry is None
    assert cache.resolve(local) == local
    monkeypatch.chdir(tmp_path)
    assert cache.resolve("my_vocoder.pt") == Path("my_vocoder.pt")
    (tmp_path / "m").write_bytes(b"a file named like a model")
    with pytest.raises(ModelUnavailableError):  # the registry name wins...
        cache.resolve("m")
    assert cache.resolve("./m") == Path("m")  # ...unless written as a path
    with pytest.raises(ModelNotFoundError, match="missing.pt: model file not found"):
        cache.resolve(str(tmp_path / "missing.pt"))
    with pytest.raises(ModelNotFoundError, match="is a directory"):
        cache.resolve(str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="unknown model 'nope'"):
        cache.resolve("nope")
    with pytest.raises(ModelNotFoundError, match="empty model name"):
        cache.resolve(" ")


def test_registry_name_resolves_to_its_entry(tmp_path: Path, model_server) -> None:
    model_server.files["/m.pt"] = BLOB
    cache = make_cache(tmp_path, [{"name": "m", "urls": [model_server.url("m.pt")]}],
                       progress=False)
    with pytest.raises(ModelUnavailableError, match="not in the cache"):
        cache.resolve("m", download=False)
    resolved = cache.resolve_model("m")
    assert resolved.entry is cache.registry.get("m") and resolved.path.read_bytes() == BLOB
    assert resolved.entry.hifigan_config().generator == v3_config().generator
