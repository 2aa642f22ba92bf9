"""vocoder.models: models of several files and archives, from a real local HTTP server:
side by side in one folder, each checked, an archive unpacked and checked through its record,
what is missing named at once."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pytest

import vocoder.models.cache as cache_module
from tests.vocoder.test_model_archives import make_tar, make_zip
from vocoder.models import (ArchiveError, ModelCache, ModelChecksumError, ModelError,
                            ModelRegistry, ModelUnavailableError, RegistryError)

GEN = os.urandom(90_000)
HP = b"in_channels: 20\nupsample_factors: [4, 4, 4]\n"


def cache_for(tmp_path: Path, entry: dict, **kwargs) -> ModelCache:
    """A cache over a registry of one family-style entry (no config: the files carry it)."""
    full = {"name": "fam", "kind": "mel_vocoder", "family": "speechbrain", "licence": "MIT",
            "source": "test", **entry}
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"format": 2, "models": [full]}))
    kwargs.setdefault("messages", io.StringIO())
    kwargs.setdefault("retry_wait", 0.0)
    kwargs.setdefault("progress", False)
    return ModelCache(ModelRegistry.load(path), tmp_path / "home", **kwargs)


def two_files(server) -> dict:
    server.files["/sb/generator.ckpt"] = GEN
    server.files["/sb/hyperparams.yaml"] = HP
    return {"files": [{"filename": "generator.ckpt", "urls": [server.url("sb/generator.ckpt")],
                       "approx_size": 90_000},
                      {"filename": "hyperparams.yaml", "urls": [server.url("sb/hyperparams.yaml")],
                       "size": len(HP)}]}


def test_several_files_are_kept_side_by_side_and_checked_each(tmp_path, model_server) -> None:
    cache = cache_for(tmp_path, two_files(model_server))
    entry = cache.registry.get("fam")
    assert entry.size is None and entry.size_text == "~87.9 KiB"  # 90,000 + 44 bytes
    folder = tmp_path / "home" / "models" / "fam"
    assert cache.status("fam").state == "missing" and cache.cache_path("fam") == folder / "generator.ckpt"
    path = cache.get("fam")
    assert path == folder / "generator.ckpt" and path.read_bytes() == GEN
    assert (folder / "hyperparams.yaml").read_bytes() == HP
    status = cache.status("fam")
    assert status.state == "verified" and status.bytes == len(GEN) + len(HP)
    for name in ("generator.ckpt", "hyperparams.yaml"):
        stamp = json.loads((folder / f".{name}.verified.json").read_text())
        assert stamp["sha256"] == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    log = cache.messages.getvalue()
    assert log.count("no published sha256; recorded sha256") == 2
    # One file gone: the model is partial, and only that file is fetched again.
    (folder / "hyperparams.yaml").unlink()
    assert cache.status("fam").state == "partial"
    assert cache.get("fam") == path
    assert model_server.count("sb/hyperparams.yaml") == 2 and model_server.count("sb/generator.ckpt") == 1
    # A changed file is found by its own stamp.
    (folder / "generator.ckpt").write_bytes(GEN[::-1])
    with pytest.raises(ModelChecksumError, match="cached file .*generator.ckpt for model 'fam' is "
                                                 "corrupt \\(sha256 .* the one recorded"):
        cache_for(tmp_path, two_files(model_server), offline=True).get("fam")


def test_missing_files_are_named_at_once_with_where_they_go(tmp_path, model_server) -> None:
    offline = cache_for(tmp_path, two_files(model_server), offline=True)
    folder = tmp_path / "home" / "models" / "fam"
    with pytest.raises(ModelUnavailableError) as info:
        offline.get("fam")
    message = str(info.value)
    assert message.startswith("model 'fam' (mel vocoder, ~87.9 KiB) is not in the cache and the "
                              "cache is offline")
    assert (f"place the files by hand: download {model_server.url('sb/generator.ckpt')} and save "
            f"it as {folder / 'generator.ckpt'}; download "
            f"{model_server.url('sb/hyperparams.yaml')} and save it as "
            f"{folder / 'hyperparams.yaml'} (or pass the path of a local copy of generator.ckpt "
            "instead of the name, with the model's other files beside it)") in message
    assert info.value.offline and info.value.models == ("fam",)
    no_downloads = cache_for(tmp_path, two_files(model_server), auto_download=False)
    with pytest.raises(ModelUnavailableError, match=f"is not in the cache \\({folder}\\)"):
        no_downloads.get("fam")
    assert model_server.requests == []
    # placed by hand, offline works
    folder.mkdir(parents=True)
    (folder / "generator.ckpt").write_bytes(GEN)
    (folder / "hyperparams.yaml").write_bytes(HP)
    assert offline.get("fam") == folder / "generator.ckpt"


def pwg_archive(tmp_path: Path, mode: str = "w:gz") -> bytes:
    files = {"ljspeech_hifigan.v1/checkpoint-2500000steps.pkl": GEN,
             "ljspeech_hifigan.v1/config.yml": b"sampling_rate: 22050\n",
             "ljspeech_hifigan.v1/stats.h5": b"stats"}
    return make_tar(tmp_path / "release.tar.gz", files, mode=mode).read_bytes()


def archive_entry(server, blob: bytes, name: str = "ljspeech_hifigan.v1.tar.gz",
                  urls: list[str] | None = None, **file) -> dict:
    server.files[f"/{name}"] = blob
    return {"family": "espnet", "main": "checkpoint-*.pkl",
            "files": [{"filename": name, "urls": urls or [server.url(name)], "unpack": True,
                       **file}]}


def test_archive_is_unpacked_side_by_side_checked_and_deleted(tmp_path, model_server) -> None:
    blob = pwg_archive(tmp_path)
    cache = cache_for(tmp_path / "c", archive_entry(model_server, blob))
    folder = tmp_path / "c" / "home" / "models" / "fam"
    assert cache.cache_path("fam") == folder  # the main file's name is known once unpacked
    path = cache.get("fam")
    assert path == folder / "checkpoint-2500000steps.pkl" and path.read_bytes() == GEN
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == \
        ["checkpoint-2500000steps.pkl", "config.yml", "stats.h5"]
    assert not (folder / "ljspeech_hifigan.v1.tar.gz").exists()  # no second copy kept
    record = json.loads((folder / ".ljspeech_hifigan.v1.tar.gz.unpacked.json").read_text())
    assert record["archive_sha256"] == hashlib.sha256(blob).hexdigest()
    assert record["files"]["stats.h5"]["sha256"] == hashlib.sha256(b"stats").hexdigest()
    status = cache.status("fam")
    assert status.state == "verified" and status.path == path
    assert status.bytes == len(GEN) + len(b"sampling_rate: 22050\n") + 5
    assert cache.get("fam") == path and model_server.count("ljspeech_hifigan.v1.tar.gz") == 1
    # An unpacked file that changed is found (its record), and the archive fetched again.
    (folder / "config.yml").write_bytes(b"sampling_rate: 16000\n")
    assert cache.status("fam").state == "cached"  # changed since checked: not verified
    offline = cache_for(tmp_path / "c", archive_entry(model_server, blob), offline=True)
    with pytest.raises(ModelChecksumError, match="config.yml, unpacked from "
                                                 "ljspeech_hifigan.v1.tar.gz: sha256"):
        offline.verify("fam")
    assert cache.get("fam") == path and model_server.count("ljspeech_hifigan.v1.tar.gz") == 2
    assert (folder / "config.yml").read_bytes() == b"sampling_rate: 22050\n"
    (folder / "stats.h5").unlink()
    assert cache.status("fam").state == "partial"
    assert cache.download("fam", force=True) == path and (folder / "stats.h5").is_file()


def test_an_archive_placed_by_hand_is_checked_and_unpacked_offline(tmp_path, model_server) -> None:
    blob = pwg_archive(tmp_path)
    sha = hashlib.sha256(blob).hexdigest()
    cache = cache_for(tmp_path, archive_entry(model_server, blob, sha256=sha), offline=True)
    folder = tmp_path / "home" / "models" / "fam"
    with pytest.raises(ModelUnavailableError, match="save it as .*ljspeech_hifigan.v1.tar.gz "
                                                    "\\(it is unpacked there on first use\\)"):
        cache.get("fam")
    folder.mkdir(parents=True)
    (folder / "ljspeech_hifigan.v1.tar.gz").write_bytes(blob)
    assert cache.status("fam").state == "cached"
    assert cache.get("fam") == folder / "checkpoint-2500000steps.pkl"
    assert cache.status("fam").state == "verified" and model_server.requests == []
    # A placed archive that is not the registry's is refused, and nothing is unpacked.
    other = cache_for(tmp_path / "o", archive_entry(model_server, blob, sha256="0" * 64),
                      offline=True)
    (tmp_path / "o" / "home" / "models" / "fam").mkdir(parents=True)
    (tmp_path / "o" / "home" / "models" / "fam" / "ljspeech_hifigan.v1.tar.gz").write_bytes(blob)
    with pytest.raises(ModelChecksumError, match=f"sha256 {sha}, expected 0000"):
        other.get("fam")
    assert not (tmp_path / "o" / "home" / "models" / "fam" / "config.yml").exists()


def test_a_page_instead_of_the_archive_tries_the_next_url(tmp_path, model_server) -> None:
    blob = make_zip(tmp_path / "coqui.zip", {"vocoder/model_file.pth": GEN,
                                             "vocoder/config.json": b"{}"}).read_bytes()
    model_server.files["/confirm"] = b"<html><body>Virus scan warning</body></html>"
    entry = archive_entry(model_server, blob, name="coqui.zip",
                          urls=[model_server.url("confirm"), model_server.url("coqui.zip")])
    entry.update(family="coqui", main="model_file.pth*")
    cache = cache_for(tmp_path, entry)
    assert cache.get("fam").name == "model_file.pth"
    assert model_server.count("confirm") == 1 and model_server.count("coqui.zip") == 1
    only_page = archive_entry(model_server, blob, name="coqui.zip",
                              urls=[model_server.url("confirm")])
    with pytest.raises(ModelUnavailableError, match="confirm \\(not a zip or tar archive\\)"):
        cache_for(tmp_path / "p", only_page).get("fam")
    assert not list((tmp_path / "p" / "home" / "models" / "fam").glob("*.part"))


def test_unsafe_or_unexpected_archives_are_refused(tmp_path, model_server, monkeypatch) -> None:
    monkeypatch.setattr(cache_module, "UNPACK_MIN", 10_000)
    bomb = make_zip(tmp_path / "bomb.zip", {"checkpoint-1steps.pkl": bytes(200_000)}).read_bytes()
    assert len(bomb) < 1000
    with pytest.raises(ArchiveError, match="unpacks to more than 10000 bytes; refused"):
        cache_for(tmp_path / "b", archive_entry(model_server, bomb, name="bomb.zip")).get("fam")
    assert [p.name for p in (tmp_path / "b" / "home" / "models" / "fam").iterdir()
            if not p.name.startswith(".")] == ["bomb.zip"]  # checked, kept, nothing unpacked
    evil = make_tar(tmp_path / "evil.tar.gz", {"../../evil.py": b"x"}).read_bytes()
    with pytest.raises(ArchiveError, match="absolute path or '..'"):
        cache_for(tmp_path / "e", archive_entry(model_server, evil, name="evil.tar.gz")).get("fam")
    assert not (tmp_path / "e" / "home" / "evil.py").exists()
    nothing = make_tar(tmp_path / "n.tar.gz", {"readme.txt": b"x"}).read_bytes()
    with pytest.raises(ModelError, match="no file matches 'checkpoint-\\*.pkl' among the files "
                                         "unpacked"):
        cache_for(tmp_path / "n", archive_entry(model_server, nothing, name="n.tar.gz")).get("fam")
    clash = make_tar(tmp_path / "c.tar.gz", {"c.tar.gz": b"x"}).read_bytes()
    with pytest.raises(ArchiveError, match="member 'c.tar.gz' would replace a file of model"):
        cache_for(tmp_path / "c", archive_entry(model_server, clash, name="c.tar.gz")).get("fam")


@pytest.mark.parametrize("change, message", [
    ({"filename": "x.pt", "files": [{"filename": "a.pt", "urls": ["http://h/a"]}]},
     "'files' and 'filename'/'urls' exclude"),
    ({"files": []}, "'files' must list at least one file"),
    ({"files": [{"filename": "a.pt", "urls": ["http://h/a"]}] * 2}, "name a file twice"),
    ({"files": [{"filename": "a.pt", "urls": ["http://h/a"], "unpack": True}]},
     "'files\\[0\\].unpack' is true but 'a.pt' does not end like an archive"),
    ({"files": [{"filename": "a.pt", "urls": ["ftp://h/a"]}]}, "'files\\[0\\].urls' entries"),
    ({"files": [{"filename": "a.pt"}]}, "missing 'files\\[0\\].urls'"),
    ({"files": [{"filename": "a.pt", "urls": ["http://h/a"]}], "main": "b.pt"},
     "'main' must be one of the files"),
    ({"files": [{"filename": "a.zip", "urls": ["http://h/a"], "unpack": True}], "main": "../x"},
     "'main' must be a plain file name or pattern"),
    ({"family": None, "files": [{"filename": "a.pt", "urls": ["http://h/a"]}]},
     "'config' is required for vocoders .* unless 'family' names"),
])
def test_registry_checks_file_lists(tmp_path, change: dict, message: str) -> None:
    entry = {"name": "fam", "kind": "mel_vocoder", "family": "speechbrain", "licence": "MIT",
             "source": "test", **change}
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"format": 2, "models": [entry]}))
    with pytest.raises(RegistryError, match=message):
        ModelRegistry.load(path)
