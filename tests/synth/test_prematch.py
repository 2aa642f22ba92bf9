"""Prematching: equal to a brute-force kNN over the same speaker's other utterances only;
speakers from directories, list columns and maps; pools, resume, bad items, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from synth.cli import main
from synth.corpus import SpeakerSource, Utterance, assign_speakers, list_directory
from synth.featurefiles import FeatureFileError, read_features
from synth.prematch import FeatureFiles, PrematchConfig, pool_groups, prematch_corpus, prematch_pool

from .corpuskit import brute_force_prematch, make_corpus, write_tiny_extractor
from .tiny import TINY_DIM

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The tiny corpus, the tiny extractor's files, and its features written by the command."""
    root = tmp_path_factory.mktemp("prematch")
    corpus = make_corpus(root / "corpus")
    weights, arch = write_tiny_extractor(root / "model")
    model = ["--extractor", weights, "--extractor-arch", arch, "--layer", 2, "--quiet"]
    assert synth("features", "--input-wavs", root / "corpus", "--recursive", "--output-dir",
                 root / "feats", "--save-dtype", "float32", *model) == 0
    feats = {uid: read_features(root / "feats" / f"{uid}.npy") for uid in corpus}
    return {"root": root, "corpus": corpus, "model": model, "feats": feats,
            "speakers": {uid: item["speaker"] for uid, item in corpus.items()}}


def synth(*args) -> int:
    try:
        return main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code)


def outputs(directory: Path, ids) -> dict[str, torch.Tensor]:
    return {uid: read_features(directory / f"{uid}.npy") for uid in ids}


def assert_equal_to(result: dict, reference: dict, atol: float = 1e-5) -> None:
    assert sorted(result) == sorted(reference)
    for uid in reference:
        assert result[uid].shape == reference[uid].shape, uid
        torch.testing.assert_close(result[uid].double(), reference[uid].double(), atol=atol,
                                   rtol=0, msg=uid)


# ---------------------------------------------------------------------- the method
def test_pool_groups():
    assert pool_groups([], 100) == []
    assert pool_groups([50, 60, 70], None) == [[0, 1, 2]]
    assert pool_groups([50, 60, 70], 1000) == [[0, 1, 2]]
    assert pool_groups([50] * 7, 100) == [[0, 3, 6], [1, 4], [2, 5]]  # ceil(350/100)=4 > 7//2
    assert pool_groups([50] * 8, 200) == [[0, 2, 4, 6], [1, 3, 5, 7]]
    assert pool_groups([500, 10], 1) == [[0, 1]]  # never a pool of one


def test_prematch_pool_equals_brute_force_and_never_matches_itself():
    gen = torch.Generator().manual_seed(0)
    feats = [torch.randn(n, 12, generator=gen) for n in (23, 31, 17)]
    ids = ["a", "b", "c"]
    ref = brute_force_prematch(dict(zip(ids, feats)), dict.fromkeys(ids, "s"), k=4)
    out = prematch_pool(feats, 4, max_memory_mb=1e-3)  # tiny budget: one row per chunk
    assert_equal_to({ids[i]: out[i] for i in out}, ref)
    # With k=1 every output row is a row of the OTHER utterances, never one of the query's
    # own (which would be at distance 0 if they were in the pool).
    out = prematch_pool(feats, 1, [0])
    others = torch.cat(feats[1:])
    for row in out[0]:
        assert (others == row).all(dim=1).any()
        assert not (feats[0] == row).all(dim=1).any()
    with pytest.raises(ValueError, match="at least two utterances"):
        prematch_pool(feats[:1])
    with pytest.raises(ValueError, match="fewer than k = 40"):
        prematch_pool([feats[0][:30], feats[1][:30]], 40)


def test_matches_come_only_from_the_same_speaker(tmp_path):
    """Speaker B's utterances are scaled copies of A's query frames (cosine distance 0): a
    leak across speakers, or of the utterance itself, would show up as exact copies."""
    gen = torch.Generator().manual_seed(1)
    a = [torch.randn(20, 8, generator=gen) for _ in range(3)]
    b = [2.0 * a[0], 3.0 * a[1]]
    feats = tmp_path / "feats"
    feats.mkdir()
    utts = []
    for spk, items in (("A", a), ("B", b)):
        for n, x in enumerate(items):
            uid = f"{spk}{n}"
            np.save(feats / f"{uid}.npy", x.numpy())
            utts.append(Utterance(uid, tmp_path / f"{uid}.wav", speaker=spk))
    summary = prematch_corpus(utts, tmp_path / "out", FeatureFiles(feats),
                              PrematchConfig(k=1, save_dtype="float32"), progress=False,
                              log=lambda m: None)
    assert (summary.written, summary.failed) == (5, [])
    out = outputs(tmp_path / "out", [u.id for u in utts])
    pools = {"A0": a[1:], "A1": [a[0], a[2]], "A2": a[:2], "B0": [b[1]], "B1": [b[0]]}
    for uid, pool in pools.items():
        keys = torch.cat(pool)
        assert all((keys == row).all(dim=1).any() for row in out[uid]), uid
    assert_equal_to(out, brute_force_prematch(
        {u.id: torch.from_numpy(np.load(feats / f"{u.id}.npy")) for u in utts},
        {u.id: u.speaker for u in utts}, k=1))


def test_large_speakers_are_split_into_round_robin_pools(tmp_path):
    gen = torch.Generator().manual_seed(2)
    feats = tmp_path / "feats"
    feats.mkdir()
    utts, data = [], {}
    for n in range(7):
        uid = f"s-{n:02d}"
        data[uid] = torch.randn(30 + 5 * n, 16, generator=gen)
        np.save(feats / f"{uid}.npy", data[uid].numpy())
        utts.append(Utterance(uid, tmp_path / f"{uid}.wav", speaker="s"))
    # 315 frames; 0.05 min = 150 frames at 50 Hz -> ceil(315/150) = 3 pools.
    config = PrematchConfig(k=4, pool_minutes=0.05, save_dtype="float32")
    prematch_corpus(utts, tmp_path / "out", FeatureFiles(feats), config, progress=False,
                    log=lambda m: None)
    pools = {f"s-{n:02d}": n % 3 for n in range(7)}
    ref = brute_force_prematch(data, dict.fromkeys(data, "s"), k=4, pools=pools)
    assert_equal_to(outputs(tmp_path / "out", data), ref)
    info = json.loads((tmp_path / "out" / "features.json").read_text())
    assert (info["kind"], info["k"], info["pool_minutes"], info["model"]) == \
        ("prematched", 4, 0.05, None)


# ---------------------------------------------------------------------- the command
def test_prematch_command_equals_brute_force_per_speaker(setup, tmp_path, capsys):
    root = setup["root"]
    out = tmp_path / "pm"
    rc = synth("prematch", "--input-wavs", root / "corpus", "--recursive", "--speaker-from-dir",
               "2", "--features-dir", root / "feats", "--output-dir", out, "--save-dtype",
               "float32", "--write-list", tmp_path / "train.txt", "--quiet")
    assert rc == 0
    assert "6 feature file(s) written" in capsys.readouterr().err
    ref = brute_force_prematch(setup["feats"], setup["speakers"], k=4)
    result = outputs(out, setup["corpus"])
    assert_equal_to(result, ref)
    for uid, feats in result.items():  # the same frames as the input, and not the input
        assert feats.shape == setup["feats"][uid].shape
        assert not torch.allclose(feats, setup["feats"][uid], atol=1e-3)
    # Speaker = the chapter directory (level 1) is another, finer pooling.
    assert synth("prematch", "--input-wavs", root / "corpus", "--recursive",
                 "--speaker-from-dir", "--features-dir", root / "feats", "--output-dir",
                 tmp_path / "by-chapter", "--save-dtype", "float32", "--quiet") == 1
    err = capsys.readouterr().err  # chapters 227, 496 hold one utterance each
    assert "19-227-0002.wav: speaker '227' has no other usable utterance" in err
    chapters = {uid: str(item["path"].parent.name) for uid, item in setup["corpus"].items()}
    ref_ch = brute_force_prematch({u: f for u, f in setup["feats"].items()
                                   if u not in ("19-227-0002", "26-496-0002")}, chapters, k=4)
    assert_equal_to(outputs(tmp_path / "by-chapter", ref_ch), ref_ch)
    info = json.loads((out / "features.json").read_text())
    assert (info["model"], info["layer"], info["dim"], info["speakers"], info["source"]) == \
        ("tiny_wavlm", 2, TINY_DIM, "directory level 2", str(root / "feats"))
    listed = (tmp_path / "train.txt").read_text().splitlines()
    assert len(listed) == 6 and all(line.split("|")[1] in ("19", "26") for line in listed)


def test_extraction_on_the_fly_equals_feature_files(setup, tmp_path):
    root = setup["root"]
    rc = synth("prematch", "--input-wavs", root / "corpus", "--recursive", "--speaker-from-dir",
               "2", "--output-dir", tmp_path / "pm", "--save-dtype", "float32", *setup["model"])
    assert rc == 0
    ref = brute_force_prematch(setup["feats"], setup["speakers"], k=4)
    assert_equal_to(outputs(tmp_path / "pm", setup["corpus"]), ref, atol=1e-4)
    # float16 output (the default) is the same numbers, rounded.
    assert synth("prematch", "--input-wavs", root / "corpus", "--recursive", "--speaker-from-dir",
                 "2", "--features-dir", root / "feats", "--output-dir", tmp_path / "half",
                 "--quiet") == 0
    assert np.load(tmp_path / "half" / "26-495-0000.npy").dtype == np.float16
    assert_equal_to(outputs(tmp_path / "half", setup["corpus"]), ref, atol=2e-3)


def test_speakers_from_list_column_map_and_single(setup, tmp_path, capsys):
    root, corpus = setup["root"], setup["corpus"]
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    for uid, item in corpus.items():
        shutil.copy(item["path"], wavs / f"{uid}.wav")
    ids = sorted(corpus)
    (tmp_path / "list.txt").write_text(
        "".join(f"{uid}|text {n}|{setup['speakers'][uid]}\n" for n, uid in enumerate(ids)))
    common = ["--features-dir", root / "feats", "--save-dtype", "float32", "--quiet"]
    ref = brute_force_prematch(setup["feats"], setup["speakers"], k=4)
    assert synth("prematch", "--train-list", tmp_path / "list.txt", "--wavs-dir", wavs,
                 "--speaker-column", "3", "--output-dir", tmp_path / "col", *common) == 0
    assert_equal_to(outputs(tmp_path / "col", ids), ref)
    # A speaker map (ids as paths work too) that leaves one utterance out.
    (tmp_path / "spk.txt").write_text("".join(
        f"some/dir/{uid}.wav|{setup['speakers'][uid]}\n" for uid in ids if uid != "26-495-0000"))
    capsys.readouterr()
    assert synth("prematch", "--input-wavs", wavs, "--speakers", tmp_path / "spk.txt",
                 "--output-dir", tmp_path / "map", *common) == 1
    err = capsys.readouterr().err
    assert "'26-495-0000' is not in the speaker map" in err and "1 bad item(s)" in err
    kept = {u: f for u, f in setup["feats"].items() if u != "26-495-0000"}
    assert_equal_to(outputs(tmp_path / "map", kept),
                    brute_force_prematch(kept, setup["speakers"], k=4))
    # One speaker for all: pools cross the (real) speakers.
    assert synth("prematch", "--input-wavs", wavs, "--single-speaker", "-k", "2",
                 "--output-dir", tmp_path / "one", *common) == 0
    assert_equal_to(outputs(tmp_path / "one", ids),
                    brute_force_prematch(setup["feats"], dict.fromkeys(ids, "x"), k=2))


def test_resume_skips_done_files_and_unneeded_pools(setup, tmp_path, capsys):
    root = setup["root"]
    feats = tmp_path / "feats"
    shutil.copytree(root / "feats", feats)
    out = tmp_path / "pm"
    args = ["prematch", "--input-wavs", root / "corpus", "--recursive", "--speaker-from-dir", "2",
            "--features-dir", feats, "--output-dir", out, "--save-dtype", "float32", "--quiet"]
    assert synth(*args) == 0
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")}
    # Speaker 26's inputs become unreadable: its pool must not even be read on resume.
    for uid in ("26-495-0000", "26-495-0001", "26-496-0002"):
        (feats / f"{uid}.npy").write_bytes(b"garbage")
    (out / "19-198-0001.npy").unlink()
    capsys.readouterr()
    assert synth(*args) == 0
    err = capsys.readouterr().err
    assert "5 utterance(s) already prematched" in err and "1 feature file(s) written" in err
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")}
    assert [n for n in after if after[n] != stamps.get(n)] == ["19-198-0001.npy"]
    ref = brute_force_prematch(setup["feats"], setup["speakers"], k=4)
    assert_equal_to({"19-198-0001": read_features(out / "19-198-0001.npy")},
                    {"19-198-0001": ref["19-198-0001"]})


def test_bad_items_are_reported_and_the_rest_prematched(setup, tmp_path, capsys):
    root = setup["root"]
    feats = tmp_path / "feats"
    shutil.copytree(root / "feats", feats)
    (feats / "19-198-0000.npy").unlink()                                    # missing
    np.save(feats / "26-495-0001.npy", np.zeros((10, TINY_DIM + 1), np.float32))  # wrong dim
    (feats / "26-496-0002.npy").write_bytes(b"\x93NUMPY garbage")           # unreadable
    rc = synth("prematch", "--input-wavs", root / "corpus", "--recursive", "--speaker-from-dir",
               "2", "--features-dir", feats, "--output-dir", tmp_path / "pm", "--save-dtype",
               "float32", "--quiet")
    assert rc == 1
    err = capsys.readouterr().err
    assert "no feature file 19-198-0000.npy or 19-198-0000.pt" in err
    assert f"{feats / '26-495-0001.npy'}: features have shape (10, 33), expected (frames, 32)" in err
    assert "26-496-0002.npy: cannot read .npy feature file" in err
    # Speaker 26 is left with one usable utterance: reported; speaker 19 keeps two.
    assert "26-495-0000.wav: speaker '26' has no other usable utterance" in err
    assert "2 feature file(s) written" in err and "4 bad item(s) skipped" in err
    kept = {u: setup["feats"][u] for u in ("19-198-0001", "19-227-0002")}
    assert_equal_to(outputs(tmp_path / "pm", kept), brute_force_prematch(kept, setup["speakers"]))
    assert sorted(p.name for p in (tmp_path / "pm").iterdir()) == \
        ["19-198-0001.npy", "19-227-0002.npy", "features.json"]


@pytest.mark.parametrize("case", ["same-dir", "column-without-list", "features-and-layer",
                                  "no-speakers", "other-k", "prematched-input", "no-speaker-found"])
def test_usage_errors_exit_2_with_one_line(setup, tmp_path, capsys, case):
    root = setup["root"]
    out = tmp_path / "pm"
    args = ["prematch", "--input-wavs", root / "corpus", "--recursive", "--speaker-from-dir", "2",
            "--features-dir", root / "feats", "--output-dir", out, "--quiet"]
    expect = {
        "same-dir": "must not be the features directory",
        "column-without-list": "--speaker-column goes with --train-list",
        "features-and-layer": "--features-dir reads features already extracted",
        "no-speakers": "one of the arguments --speaker-from-dir --speaker-column --speakers "
                       "--single-speaker is required",
        "other-k": "k 4 vs 3: before vs now",
        "prematched-input": "holds prematched features; give the directory written by",
        "no-speaker-found": "no utterance has a speaker (directory level 9)",
    }[case]
    if case == "same-dir":
        args[args.index(out)] = root / "feats"
    elif case == "column-without-list":
        args[4:6] = ["--speaker-column", "2"]
    elif case == "features-and-layer":
        args += ["--layer", "2"]
    elif case == "no-speakers":
        args[4:6] = []
    elif case == "other-k":
        assert synth(*args) == 0
        capsys.readouterr()
        args += ["-k", "3"]
    elif case == "prematched-input":
        assert synth(*args) == 0
        capsys.readouterr()
        args[args.index(out)] = tmp_path / "again"
        args[args.index(root / "feats")] = out
    elif case == "no-speaker-found":
        args[5] = "9"
    assert synth(*args) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and expect in lines[0], lines


def test_speaker_sources_unit(tmp_path):
    a = tmp_path / "spkA" / "ch1" / "u1.wav"
    utts = [Utterance("u1", a, fields=("u1", "t", "A")), Utterance("u2", tmp_path / "u2.wav")]
    got, problems = assign_speakers(utts, SpeakerSource(dir_level=2))
    assert got[0].speaker == "spkA" and got[1].speaker == tmp_path.parent.name
    got, problems = assign_speakers(utts, SpeakerSource(column=3))
    assert [u.speaker for u in got] == ["A"]
    assert problems[0][1] == "a speaker column needs a file list, not a directory"
    with pytest.raises(Exception, match="say where speakers come from"):
        assign_speakers(utts, SpeakerSource(column=3, single=True))
    with pytest.raises(Exception, match="speaker column must be >= 2"):
        assign_speakers(utts, SpeakerSource(column=1))
    (tmp_path / "map.txt").write_text("u1|A\nu1|B\n")
    with pytest.raises(Exception, match=r"line 2: 'u1' is given two speakers"):
        assign_speakers(utts, SpeakerSource(map_file=tmp_path / "map.txt"))
    with pytest.raises(Exception, match="no audio files"):
        list_directory(tmp_path)
    with pytest.raises(FeatureFileError, match="features directory not found"):
        FeatureFiles(tmp_path / "nothing")


def test_command_runs_as_a_module(setup, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-m", "synth", "prematch", "--input-wavs", str(setup["root"] / "corpus"),
         "--recursive", "--speaker-from-dir", "2", "--features-dir",
         str(setup["root"] / "feats"), "--output-dir", str(tmp_path / "pm")],
        capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "6 feature file(s) written" in result.stderr
    assert sorted(p.stem for p in (tmp_path / "pm").glob("*.npy")) == sorted(setup["corpus"])
