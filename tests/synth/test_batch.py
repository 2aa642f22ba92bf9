"""synth.batch in-process: manifest formats, bad items, resume, sharding, batched == one by one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synth.batch import (BatchRunner, BatchSummary, Item, ManifestError, default_summary_path,
                         parse_shard, read_manifest, shard_from_env, shard_items)
from synth.pipeline import Synthesizer
from tests.conftest import speechlike, write_wav
from tests.synth.pipeline_models import make_synth, save_tiny_mel_vocoder
from vocoder.audio import load_audio

SR = 16000


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Synthesizer:
    return make_synth(save_tiny_mel_vocoder(tmp_path_factory.mktemp("voc"), resblock="2"))


def run(synth, manifest: Path, out: Path, shard=(0, 1), **kwargs) -> BatchSummary:
    lines: list[str] = []
    runner = BatchRunner(synth, out, progress=False, report=lines.append, **kwargs)
    summary = BatchSummary(str(manifest), str(out), shard)
    runner.run(shard_items(read_manifest(manifest), *shard), summary)
    summary.reports = lines  # type: ignore[attr-defined]
    return summary


# ----------------------------------------------------------------------------- manifests

def test_plain_and_pipe_lines(tmp_path) -> None:
    manifest = tmp_path / "sub" / "m.txt"
    manifest.parent.mkdir()
    manifest.write_text("# a comment\n\nFirst utterance.\n"
                        "u2|Second utterance.\n"
                        "u3|Third.|voices/me.pt\n"
                        "u4|\n"
                        "u5|a|b|c\n"
                        "../x|escape\n"
                        "u2|again\n"
                        "Line eleven.\n", encoding="utf-8")
    items = read_manifest(manifest)
    assert [(i.id, i.line) for i in items] == [
        ("0003", 3), ("u2", 4), ("u3", 5), ("u4", 6), (None, 7), (None, 8), ("u2", 9), ("0010", 10)]
    assert items[0].text == "First utterance." and items[0].voice is None
    assert items[2].voice == manifest.parent / "voices" / "me.pt"
    assert items[3].error == "empty text"
    assert "got 4 fields" in items[4].error
    assert "cannot be a file name" in items[5].error
    assert items[6].error == "duplicate id 'u2' (first on line 4)"
    assert all(i.error is None for i in (items[0], items[1], items[2], items[7]))


def test_jsonl(tmp_path) -> None:
    manifest = tmp_path / "m.jsonl"
    lines = [{"id": "t", "text": "Hello."}, {"id": 7, "source": "in.wav", "voice": ["a.wav", "b.wav"]},
             {"text": "no id"}, {"id": "both", "text": "x", "source": "y.wav"},
             {"id": "neither"}, {"id": "blank", "text": "  "}, {"id": "v", "text": "x", "voice": 3},
             [1, 2], {"id": ".hidden", "text": "x"}]
    manifest.write_text("\n".join(json.dumps(x) for x in lines) + "\n{broken\n")
    items = read_manifest(manifest)
    assert items[0] == Item("t", 1, text="Hello.")
    assert items[1] == Item("7", 2, source=tmp_path / "in.wav",
                            voice=[tmp_path / "a.wav", tmp_path / "b.wav"])
    assert items[2].id == "0003" and items[2].text == "no id"
    errors = [i.error for i in items[3:]]
    assert errors[0] == errors[1] == "give exactly one of 'text' and 'source'"
    assert errors[2] == "empty text"
    assert "'voice' must be a path or a list of paths" in errors[3]
    assert errors[4] == "expected a JSON object, got list"
    assert "cannot be a file name" in errors[5]
    assert errors[6].startswith("not valid JSON")
    # JSON is recognised by its first line too, whatever the file is called
    other = tmp_path / "m.txt"
    other.write_text('{"id": "x", "text": "Hi."}\n')
    assert read_manifest(other) == [Item("x", 1, text="Hi.")]


def test_unreadable_manifest(tmp_path) -> None:
    with pytest.raises(ManifestError, match="nope.txt: manifest not found"):
        read_manifest(tmp_path / "nope.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ManifestError, match="not UTF-8"):
        read_manifest(tmp_path / "bin.txt")


# ----------------------------------------------------------------------------- sharding

def test_shard_parsing_and_env() -> None:
    assert parse_shard("0/1") == (0, 1) and parse_shard(" 3 / 4 ") == (3, 4)
    for bad in ("4/4", "1", "-1/2", "a/b", "0/0"):
        with pytest.raises(ValueError, match="--shard"):
            parse_shard(bad)
    assert shard_from_env({}) is None
    assert shard_from_env({"RANK": "2", "WORLD_SIZE": "3", "LOCAL_RANK": "0"}) == (2, 3)
    with pytest.raises(ValueError, match="RANK=3 is not in"):
        shard_from_env({"RANK": "3", "WORLD_SIZE": "3"})


def test_shards_cover_every_item_exactly_once() -> None:
    items = [Item(str(i), i + 1, text="x") for i in range(103)]
    for count in (1, 2, 3, 7, 200):
        seen = [item.id for index in range(count) for item in shard_items(items, index, count)]
        assert sorted(seen) == sorted(i.id for i in items)  # all, none twice


def test_sharded_runs_share_one_job(synth, tmp_path) -> None:
    rows = [f"s{i}|Sentence number {i}." for i in range(7)] + ["bad|", "u|x|missing.pt"]
    manifest = tmp_path / "m.txt"
    manifest.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    summaries = [run(synth, manifest, out, shard=(i, 3), batch_size=2) for i in range(3)]
    done = [d for s in summaries for d in s.done_ids]
    assert sorted(done) == [f"s{i}" for i in range(7)]  # each exactly once
    failed = sorted(f["id"] for s in summaries for f in s.failed)
    assert failed == ["bad", "u"]
    assert sorted(p.stem for p in out.glob("*.wav")) == sorted(done)
    assert [s.items for s in summaries] == [3, 3, 3]
    assert default_summary_path(out, (1, 3)).name == "summary-shard-1-of-3.json"
    assert default_summary_path(out, (0, 1)).name == "summary.json"


# ----------------------------------------------------------------------------- running

def test_mixed_manifest_bad_items_resume(synth, tmp_path) -> None:
    write_wav(tmp_path / "clips" / "src.wav", speechlike(0.7, SR), SR)
    (tmp_path / "clips" / "broken.wav").write_bytes(b"RIFF\x00\x00not really a wav")
    (tmp_path / "voice.txt").write_text("not a voice")
    manifest = tmp_path / "m.jsonl"
    rows = [{"id": "hello", "text": "Hello there."},
            {"id": "long", "text": "A much longer sentence, with a clause or two, to vocode."},
            {"id": "copy", "source": "clips/src.wav"},
            {"id": "empty", "text": ""},
            {"id": "punct", "text": "?!"},
            {"id": "gone", "source": "clips/missing.wav"},
            {"id": "broken", "source": "clips/broken.wav"},
            {"id": "tiny", "source": "clips/src.wav", "voice": "nobody.pt"},
            {"id": "notavoice", "text": "Hi.", "voice": "voice.txt"}]
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out"
    summary = run(synth, manifest, out, batch_size=4)
    assert sorted(summary.done_ids) == ["copy", "hello", "long"]
    reasons = {f["id"]: f["reason"] for f in summary.failed}
    assert reasons["empty"] == "empty text"
    assert reasons["punct"].startswith("nothing to speak")
    assert "missing.wav: audio file not found" in reasons["gone"]
    assert "broken.wav: cannot read audio" in reasons["broken"]
    assert reasons["tiny"] == f"unknown voice: {tmp_path / 'nobody.pt'} not found"
    assert "neither a saved voice (.pt) nor reference audio" in reasons["notavoice"]
    assert len(summary.reports) == 6 and all(r.startswith("synth: item '") for r in summary.reports)

    seconds = 0.0
    for ident in summary.done_ids:
        wav, sr = load_audio(out / f"{ident}.wav")
        assert sr == SR and np.sqrt(np.mean(wav ** 2)) > 0.01
        seconds += len(wav) / sr
    copy, _ = load_audio(out / "copy.wav")
    assert len(copy) == (len(speechlike(0.7, SR)) // 64) * 64
    data = summary.to_dict()
    assert data["done"] == 3 and data["failed"] == 6 and data["skipped"] == 0
    assert data["audio_seconds"] == pytest.approx(seconds, abs=1e-3)
    assert data["rtf"] == pytest.approx(summary.processing_seconds / seconds, rel=1e-3)
    summary.save(out / "summary.json")
    assert json.loads((out / "summary.json").read_text())["failures"][0]["reason"]

    # Resume: finished items are skipped; a stale temp file of an item is cleaned up; a
    # deleted output is made again.
    (out / "long.wav").unlink()
    (out / ".long.wav.abc123.tmp").write_bytes(b"half a file")
    (out / ".someone-else.wav.xyz.tmp").write_bytes(b"another shard's")
    again = run(synth, manifest, out, batch_size=4)
    assert again.done_ids == ["long"] and again.skipped == 2 and len(again.failed) == 6
    assert not (out / ".long.wav.abc123.tmp").exists()
    assert (out / ".someone-else.wav.xyz.tmp").exists()
    redo = run(synth, manifest, out, overwrite=True)
    assert sorted(redo.done_ids) == ["copy", "hello", "long"] and redo.skipped == 0


def test_batched_files_equal_one_at_a_time(synth, tmp_path) -> None:
    clips = tmp_path / "clips"
    rows = []
    for i, seconds in enumerate([0.2, 0.9, 0.35, 1.3, 0.5, 0.21]):
        write_wav(clips / f"c{i}.wav", speechlike(seconds, SR, seed=i), SR)
        rows.append(json.dumps({"id": f"c{i}", "source": f"clips/c{i}.wav"}))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(rows))
    one = run(synth, manifest, tmp_path / "one", batch_size=1)
    many = run(synth, manifest, tmp_path / "many", batch_size=8)
    assert sorted(one.done_ids) == sorted(many.done_ids) and len(one.done_ids) == 6
    for ident in one.done_ids:
        a, _ = load_audio(tmp_path / "one" / f"{ident}.wav")
        b, _ = load_audio(tmp_path / "many" / f"{ident}.wav")
        assert np.abs(a - b).max() <= 1 / 32767 + 1e-7  # at most one 16-bit step


def test_no_vocoder_batch_writes_the_base_voice(tmp_path) -> None:
    manifest = tmp_path / "m.txt"
    manifest.write_text("a|Hello.\nb|Goodbye.\n")
    write_wav(tmp_path / "x.wav", speechlike(0.3, SR), SR)
    (tmp_path / "m2.jsonl").write_text(json.dumps({"id": "x", "source": "x.wav"}))
    plain = make_synth("none")
    summary = run(plain, manifest, tmp_path / "out")
    assert sorted(summary.done_ids) == ["a", "b"]
    assert load_audio(tmp_path / "out" / "a.wav")[1] == 22050
    summary = run(plain, tmp_path / "m2.jsonl", tmp_path / "out")
    assert summary.failed[0]["reason"] == "resynthesising a source needs a mel vocoder (not 'none')"


def test_voices_in_a_batch(tmp_path) -> None:
    from synth.models import ModelCache, ModelRegistry
    from tests.synth.pipeline_models import registry_file, save_tiny_vc_models

    models = save_tiny_vc_models(tmp_path / "models")
    cache = ModelCache(ModelRegistry.load(registry_file(tmp_path / "models", models["entries"])),
                       tmp_path / "home", progress=False)
    vc = make_synth(save_tiny_mel_vocoder(tmp_path / "mel", resblock="2"), cache=cache,
                    vc_vocoder="tiny-knnvc", extractor="tiny-wavlm")
    write_wav(tmp_path / "refs" / "a.wav", speechlike(1.5, SR, seed=4), SR)
    write_wav(tmp_path / "refs" / "b.wav", speechlike(1.0, SR, seed=5), SR)
    write_wav(tmp_path / "src.wav", speechlike(0.8, SR, seed=6), SR)
    vc.save_voice(tmp_path / "refs", tmp_path / "voice.pt")
    rows = [{"id": "plain", "text": "No voice here."},
            {"id": "saved", "text": "In the saved voice.", "voice": "voice.pt"},
            {"id": "clips", "source": "src.wav", "voice": ["refs/a.wav", "refs/b.wav"]},
            {"id": "folder", "source": "src.wav", "voice": "refs"}]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    summary = run(vc, manifest, tmp_path / "out")
    assert sorted(summary.done_ids) == ["clips", "folder", "plain", "saved"], summary.failed
    clips, sr = load_audio(tmp_path / "out" / "clips.wav")
    folder, _ = load_audio(tmp_path / "out" / "folder.wav")
    assert sr == SR and np.array_equal(clips, folder)  # same references, same voice
    assert len(clips) == ((len(speechlike(0.8, SR)) - 400) // 320 + 1) * 320


def test_voice_models_unavailable_fail_only_voice_items(synth, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HIFISYNTH_HOME", str(tmp_path / "empty-home"))
    monkeypatch.setenv("HIFISYNTH_OFFLINE", "1")
    monkeypatch.delenv("HIFISYNTH_REGISTRY", raising=False)
    from synth.models import ModelCache

    # The default kNN-VC models, not cached, offline.
    offline = make_synth(synth.mel_vocoder(), cache=ModelCache.from_env())
    write_wav(tmp_path / "ref.wav", speechlike(0.5, SR), SR)
    manifest = tmp_path / "m.txt"
    manifest.write_text("a|Plain.\nb|In a voice.|ref.wav\nc|Also plain.\n")
    summary = run(offline, manifest, tmp_path / "out")
    assert sorted(summary.done_ids) == ["a", "c"]
    assert summary.failed == [{"id": "b", "line": 2,
                               "reason": "voice conversion unavailable (see above)"}]
    # Both missing models are named at once.
    assert summary.reports[0].startswith("synth: voice conversion unavailable: 2 models are "
                                         "missing: wavlm-large (feature extractor, ~1.2 GiB), "
                                         "knnvc-hifigan-prematched (feature vocoder, ~63.2 MiB)")
    assert "offline" in summary.reports[0]
