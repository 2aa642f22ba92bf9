"""`synth features`: feature files on the 50 Hz grid, resume, bad items, usage errors, shards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from synth.audio import load_mono
from synth.cli import main
from synth.corpus import read_list
from synth.featurefiles import extract_aligned

from .corpuskit import load_tiny_extractor, make_corpus, write_tiny_extractor
from .tiny import TINY_DIM, speechlike

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("features")
    corpus = make_corpus(root / "corpus")
    weights, arch = write_tiny_extractor(root / "model")
    return {"root": root, "corpus": corpus, "weights": weights, "arch": arch,
            "extractor": load_tiny_extractor(weights, arch)}


def synth(*args) -> int:
    """``synth ARGS`` in this process; usage errors (SystemExit) give their code."""
    try:
        return main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code)


def model_args(setup) -> list:
    return ["--extractor", setup["weights"], "--extractor-arch", setup["arch"], "--layer", 2,
            "--quiet"]


def error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_feature_files_have_one_frame_per_320_samples(setup, tmp_path, capsys):
    out = tmp_path / "feats"
    rc = synth("features", "--input-wavs", setup["root"] / "corpus", "--recursive",
               "--output-dir", out, "--save-dtype", "float32", "--write-list",
               tmp_path / "train.txt", *model_args(setup))
    assert rc == 0
    assert "6 feature file(s) written" in capsys.readouterr().err
    ext = setup["extractor"]
    for uid, item in setup["corpus"].items():
        feats = np.load(out / f"{uid}.npy")
        assert feats.dtype == np.float32
        assert feats.shape == (item["samples16k"] // 320, TINY_DIM)
        # Exactly the extractor's layer 2 on the 16 kHz mono audio zero-padded by
        # max(0, 80 - samples % 320) samples at the end.
        wav = load_mono(item["path"], 16000)
        assert wav.shape[0] == item["samples16k"]
        pad = max(0, 80 - wav.shape[0] % 320)
        ref = ext.extract_list([torch.nn.functional.pad(wav, (0, pad))], 2)[0]
        assert ref.shape[0] == feats.shape[0]
        torch.testing.assert_close(torch.from_numpy(feats), ref, atol=2e-5, rtol=0)
    # The 22.05 kHz file: within one frame of the vocoder grid at 22.05 kHz (hop 441).
    item = setup["corpus"]["19-227-0002"]
    samples22 = sf.info(str(item["path"])).frames
    assert abs(np.load(out / "19-227-0002.npy").shape[0] - samples22 // 441) <= 1
    info = json.loads((out / "features.json").read_text())
    assert info | {"source": None} == {
        "format": "hifisynth.features", "version": 1, "kind": "features", "model": "tiny_wavlm",
        "layer": 2, "dim": TINY_DIM, "sample_rate": 16000, "hop_samples": 320,
        "dtype": "float32", "k": None, "pool_minutes": None, "speakers": None, "source": None}
    # The written list names every utterance, readable as a training list.
    listed = read_list(tmp_path / "train.txt")
    assert sorted(u.id for u in listed) == sorted(setup["corpus"])
    assert all(u.audio.resolve() == setup["corpus"][u.id]["path"].resolve() for u in listed)


def test_lists_resolve_like_vocoder_train(tmp_path):
    """synth.corpus.read_list and vocoder train's list reader name the same audio files."""
    from vocoder.data import read_file_list

    (tmp_path / "list.txt").write_text(
        "# comment\n\nLJ001-0001|text|more\nsub/a.flac|t\n/abs/b.wav\nc.WAV|x\nd.e|y\n")
    ours = [u.audio for u in read_list(tmp_path / "list.txt")]
    assert ours == read_file_list(tmp_path / "list.txt")
    assert ours == [tmp_path / "wavs" / "LJ001-0001.wav", tmp_path / "sub" / "a.flac",
                    Path("/abs/b.wav"), tmp_path / "c.WAV", tmp_path / "wavs" / "d.e.wav"]
    assert [u.audio for u in read_list(tmp_path / "list.txt", tmp_path / "w")] == \
        read_file_list(tmp_path / "list.txt", tmp_path / "w")


def test_batched_extraction_equals_one_by_one(setup):
    ext = setup["extractor"]
    wavs = [load_mono(item["path"], 16000) for item in setup["corpus"].values()]
    together = extract_aligned(ext, wavs, 2)
    for wav, feats in zip(wavs, together):
        torch.testing.assert_close(extract_aligned(ext, [wav], 2)[0], feats, atol=2e-5, rtol=0)
    with pytest.raises(ValueError, match="shorter than one frame"):
        extract_aligned(ext, [torch.zeros(319)], 2)
    assert extract_aligned(ext, [torch.zeros(320) + 0.1], 2)[0].shape == (1, TINY_DIM)


def test_resume_skips_written_files_and_overwrite_redoes_them(setup, tmp_path, capsys):
    out = tmp_path / "feats"
    args = ["features", "--input-wavs", setup["root"] / "corpus", "--recursive", "--output-dir",
            out, *model_args(setup)]
    assert synth(*args) == 0
    assert np.load(out / "19-198-0000.npy").dtype == np.float16  # the default
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")}
    capsys.readouterr()
    assert synth(*args) == 0
    err = capsys.readouterr().err
    assert "6 of 6 utterance(s) already have features" in err
    assert "0 feature file(s) written" in err and "6 already there (skipped)" in err
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")} == stamps
    (out / "26-495-0001.npy").unlink()
    assert synth(*args) == 0
    assert "1 feature file(s) written" in capsys.readouterr().err
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")}
    assert [n for n in after if after[n] != stamps.get(n)] == ["26-495-0001.npy"]
    assert synth(*args, "--overwrite") == 0
    assert "6 feature file(s) written" in capsys.readouterr().err


def test_bad_items_are_reported_and_skipped(setup, tmp_path, capsys):
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    sf.write(str(wavs / "good1.wav"), speechlike(0.8, 16000, seed=1), 16000)
    sf.write(str(wavs / "good2.wav"), speechlike(0.6, 16000, seed=2), 16000)
    sf.write(str(wavs / "short.wav"), speechlike(0.5, 16000)[:300], 16000)
    (wavs / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 3)
    out = tmp_path / "feats"
    rc = synth("features", "--input-wavs", wavs, "--output-dir", out, *model_args(setup))
    assert rc == 1
    err = capsys.readouterr().err
    assert f"skipping {wavs / 'broken.wav'}: cannot read audio" in err
    assert f"skipping {wavs / 'short.wav'}: audio too short: 300 samples at 16000 Hz" in err
    assert "2 feature file(s) written" in err and "2 bad item(s) skipped" in err
    summary = err[err.index("bad items:"):]
    assert "broken.wav" in summary and "short.wav" in summary
    assert sorted(p.name for p in out.iterdir()) == ["features.json", "good1.npy", "good2.npy"]
    assert np.load(out / "good1.npy").shape == (40, TINY_DIM)


def test_train_list_input_and_shards(setup, tmp_path, capsys):
    corpus = setup["corpus"]
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    for uid, item in corpus.items():
        shutil.copy(item["path"], wavs / f"{uid}.wav")
    lines = ["# a comment", ""] + [f"{uid}|some text" for uid in sorted(corpus)]
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "feats"
    base = ["features", "--train-list", tmp_path / "list.txt", "--output-dir", out,
            *model_args(setup)]
    assert synth(*base, "--shard", "1/2") == 0
    assert sorted(p.stem for p in out.glob("*.npy")) == sorted(corpus)[1::2]
    assert synth(*base, "--shard", "0/2") == 0
    assert sorted(p.stem for p in out.glob("*.npy")) == sorted(corpus)
    # An explicit --wavs-dir: ids resolve there.
    (tmp_path / "elsewhere").mkdir()
    shutil.move(str(tmp_path / "list.txt"), tmp_path / "elsewhere" / "list.txt")
    assert synth("features", "--train-list", tmp_path / "elsewhere" / "list.txt", "--wavs-dir",
                 wavs, "--output-dir", out, *model_args(setup)) == 0
    assert "6 already there" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["no-input", "missing-dir", "duplicate-ids", "bad-shard",
                                  "recursive-with-list", "layer-out-of-range", "bad-device",
                                  "other-settings", "foreign-npy", "arch-json-missing"])
def test_usage_errors_exit_2_with_one_line(setup, tmp_path, capsys, case):
    corpus = setup["root"] / "corpus"
    out = tmp_path / "out"
    args = ["features", "--input-wavs", corpus, "--recursive", "--output-dir", out,
            *model_args(setup)]
    expect = {
        "no-input": "one of the arguments --input-wavs --train-list is required",
        "missing-dir": "input directory not found",
        "duplicate-ids": "occur more than once (e.g. 'x'",
        "bad-shard": "need 0 <= I < N",
        "recursive-with-list": "--recursive goes with --input-wavs",
        "layer-out-of-range": "--layer 3: tiny_wavlm has transformer layers 1..2",
        "bad-device": "--device cuda:7",
        "other-settings": "layer 2 vs 1: before vs now",
        "foreign-npy": "holds .npy files but no features.json",
        "arch-json-missing": "cannot read the JSON architecture",
    }[case]
    if case == "no-input":
        args = ["features", "--output-dir", out, *model_args(setup)]
    elif case == "missing-dir":
        args[2] = tmp_path / "nowhere"
    elif case == "duplicate-ids":
        for sub in ("a", "b"):
            (tmp_path / "dup" / sub).mkdir(parents=True)
            sf.write(str(tmp_path / "dup" / sub / "x.wav"), speechlike(0.3, 16000), 16000)
        args[2] = tmp_path / "dup"
    elif case == "bad-shard":
        args += ["--shard", "2/2"]
    elif case == "recursive-with-list":
        (tmp_path / "l.txt").write_text("a|b\n")
        args[1:3] = ["--train-list", tmp_path / "l.txt"]
    elif case == "layer-out-of-range":
        args += ["--layer", "3"]
    elif case == "bad-device":
        args += ["--device", "cuda:7"]
    elif case == "other-settings":
        assert synth(*args) == 0
        capsys.readouterr()
        args += ["--layer", "1"]
    elif case == "foreign-npy":
        out.mkdir()
        np.save(out / "x.npy", np.zeros((3, 2)))
    elif case == "arch-json-missing":
        args += ["--extractor-arch", tmp_path / "missing.json"]
    assert synth(*args) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and expect in lines[0], lines
    if case == "other-settings":
        assert json.loads((out / "features.json").read_text())["layer"] == 2


def test_command_runs_as_a_module(setup, tmp_path):
    """The real command line once: help, and a run with a bad item (exit code 1)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    sf.write(str(wavs / "a.wav"), speechlike(0.7, 24000, seed=3), 24000)
    (wavs / "b.wav").write_bytes(b"not audio")
    result = subprocess.run(
        [sys.executable, "-m", "synth", "features", "--input-wavs", str(wavs), "--output-dir",
         str(tmp_path / "out"), *map(str, model_args(setup))],
        capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "skipping" in result.stderr and "b.wav" in result.stderr
    # 0.7 s at 24 kHz = 11200 samples at 16 kHz = 35 frames.
    assert np.load(tmp_path / "out" / "a.npy").shape == (35, TINY_DIM)
    result = subprocess.run([sys.executable, "-m", "synth", "features", "--help"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0
    for word in ("samples // 320", "Resuming", "Exit codes", "--shard", "features.json"):
        assert word in result.stdout
