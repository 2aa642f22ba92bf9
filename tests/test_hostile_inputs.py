"""Hostile and broken inputs against the ``vocoder`` and ``synth`` commands (issue 13).

Each case builds its input here, runs the command in a fresh child process (with an address
space limit, :mod:`tests.hostile`) and asserts what a user relies on: the exit code, exactly
one line on stderr naming the problem (one per failed item for ``synth batch``), no traceback,
no file left behind, and the child's own peak memory under a bound. The web app's cases are in
``tests/app/test_app_hostile.py``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.conftest import speechlike
from tests.hostile import (assert_one_clean_line, can_mount, code_running_checkpoints,
                           files_under, fill, long_wav, python_module, run_child,
                           small_filesystem, wav_bytes, zip_bomb)
from tests.synth.pipeline_models import save_tiny_mel_vocoder

pytestmark = pytest.mark.slow

SR = 16000  # the tiny vocoder's rate (hop 64, 20 mels)
#: Peak resident memory of a command that refuses its input (torch, librosa and the command
#: itself take 600-800 MB before reading anything).
REFUSAL_MB = 1200


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> dict[str, Path]:
    """A tiny vocoder and the broken things the cases feed it."""
    root = tmp_path_factory.mktemp("hostile")
    ckpt = save_tiny_mel_vocoder(root / "voc", seed=0)
    nan = save_tiny_mel_vocoder(root / "nan", seed=0)
    state = torch.load(nan, weights_only=True)
    state["generator"]["ups.0.bias"][3] = float("nan")
    torch.save(state, nan)
    bomb_dir = root / "bomb"
    bomb_dir.mkdir()
    (bomb_dir / "config.json").write_text((root / "voc" / "config.json").read_text())
    return {"root": root, "ckpt": ckpt, "nan": nan,
            "bomb": zip_bomb(bomb_dir / "g_00000001", inflated=2 << 30)}


def _dir_with(root: Path, name: str, files: dict[str, bytes]) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, data in files.items():
        (folder / file_name).write_bytes(data)
    return folder


def _speech_wav(seconds: float = 1.0, rate: int = SR) -> bytes:
    return wav_bytes(speechlike(seconds, rate), rate)


def _mels(tmp_path: Path) -> Path:
    mels = tmp_path / "mels"
    mels.mkdir(exist_ok=True)
    np.save(mels / "m.npy", np.random.default_rng(1).normal(-5, 1, (20, 400)).astype(np.float32))
    return mels


def _infer(tmp_path: Path, checkpoint: Path, out: Path | None = None, **run):
    """``vocoder infer`` of one mel file into ``out`` (default ``tmp_path/out``)."""
    return run_child(python_module("vocoder", "infer", "--checkpoint", checkpoint,
                                   "--input-mels", _mels(tmp_path), "--output-dir",
                                   out or tmp_path / "out"), cwd=tmp_path, **run)


# ------------------------------------------------------------------------------ audio


@pytest.mark.parametrize("command", ["mel", "infer"])
def test_a_wav_claiming_1_hz_is_refused_before_decoding(kit, tmp_path, command):
    # 181,000 samples "at 1 Hz" (a 363 KB file): resampled to 16 kHz they were 2.9 G samples.
    wavs = _dir_with(tmp_path, "wavs", {"one_hz.wav": wav_bytes(181_000, 1)})
    out = tmp_path / "out"
    args = (["mel", "--config", kit["ckpt"].parent / "config.json"] if command == "mel"
            else ["infer", "--checkpoint", kit["ckpt"]])
    res = run_child(python_module("vocoder", *args, "--input-wavs", wavs, "--output-dir", out),
                    cwd=tmp_path)
    assert res.returncode == 2
    assert_one_clean_line(res, "vocoder: error: ", "one_hz.wav",
                          "sample rate 1 Hz is not usable", "4000-192000 Hz")
    assert files_under(out) == []
    assert res.peak_mb < REFUSAL_MB, res.describe()


def test_a_three_hour_wav_makes_its_mel_in_bounded_memory(kit, tmp_path):
    # A 3-hour file took 11.5 GB in `vocoder mel`; streamed, it takes one chunk more than a
    # short file. The file is sparse: speech, then silence that takes no disk.
    head = speechlike(5.0, SR, seed=3)
    long_dir, short_dir = tmp_path / "long", tmp_path / "short"
    long_dir.mkdir()
    long_wav(long_dir / "book.wav", 3 * 3600, SR, head)
    _dir_with(tmp_path, "short", {"head.wav": wav_bytes(head, SR)})
    config = kit["ckpt"].parent / "config.json"
    short = run_child(python_module("vocoder", "mel", "--config", config, "--input-wavs",
                                    short_dir, "--output-dir", tmp_path / "out_short"),
                      cwd=tmp_path)
    res = run_child(python_module("vocoder", "mel", "--config", config, "--input-wavs", long_dir,
                                  "--output-dir", tmp_path / "out_long"), cwd=tmp_path)
    assert res.returncode == 0 and short.returncode == 0, res.describe()
    assert res.stderr.strip() == "wrote 1 mel files to " + str(tmp_path / "out_long")
    mel = np.load(tmp_path / "out_long" / "book.npy", mmap_mode="r")
    assert mel.shape == (20, 3 * 3600 * SR // 64) and mel.flags.c_contiguous
    reference = np.load(tmp_path / "out_short" / "head.npy")
    # The same mel: the frames of the speech (but the last few, whose window reaches into
    # the silence after it in the long file) are identical.
    np.testing.assert_array_equal(mel[:, :reference.shape[1] - 4], reference[:, :-4])
    assert float(mel[:, -1].max()) < math.log(1e-4)  # the silence
    assert res.peak_mb < short.peak_mb + 400, (res.describe(), short.peak_mb)
    assert res.peak_mb < 1600, res.describe()


def test_a_newline_in_a_file_name_stays_on_one_line(kit, tmp_path):
    wavs = _dir_with(tmp_path, "wavs", {"bad\nname.wav": b"RIFF\x10\x00\x00\x00WAVEjunk"})
    res = run_child(python_module("vocoder", "mel", "--config", "v1", "--input-wavs", wavs,
                                  "--output-dir", tmp_path / "out"), cwd=tmp_path)
    assert res.returncode == 2
    assert_one_clean_line(res, "vocoder: error: ", repr(str(wavs / "bad\nname.wav")),
                          "cannot read audio")
    assert res.peak_mb < REFUSAL_MB


def test_a_200_sample_clip_in_eval_is_named_as_too_short(kit, tmp_path):
    wavs = _dir_with(tmp_path, "wavs", {"tiny.wav": _speech_wav(200 / SR)})
    res = run_child(python_module("vocoder", "eval", "--checkpoint", kit["ckpt"], "--input-wavs",
                                  wavs), cwd=tmp_path)
    assert res.returncode == 2
    assert_one_clean_line(res, "vocoder: error: ", "tiny.wav",
                          "audio of 200 samples is too short to score (at least 1025")
    assert res.peak_mb < REFUSAL_MB


def test_audio_longer_than_the_limit_is_refused_from_its_header(kit, tmp_path):
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    long_wav(wavs / "long.wav", 2 * 3600, SR, speechlike(1.0, SR))  # sparse: no disk
    res = run_child(python_module("vocoder", "infer", "--checkpoint", kit["ckpt"], "--input-wavs",
                                  wavs, "--output-dir", tmp_path / "out"), cwd=tmp_path)
    assert res.returncode == 2
    assert_one_clean_line(res, "vocoder: error: ", "long.wav", "7200.0 s of audio is longer than "
                          "the limit of 3600 s", "(see --max-seconds)")
    assert files_under(tmp_path / "out") == []
    assert res.peak_mb < REFUSAL_MB


# ------------------------------------------------------------------------------ arrays


@pytest.mark.parametrize("dtype", [">f4", np.longdouble])
def test_big_endian_and_long_double_mels_are_read_correctly(kit, tmp_path, dtype):
    mel = np.random.default_rng(0).normal(-5, 1, (20, 40))
    (tmp_path / "odd").mkdir()
    (tmp_path / "plain").mkdir()
    np.save(tmp_path / "odd" / "m.npy", mel.astype(dtype))
    np.save(tmp_path / "plain" / "m.npy", mel.astype(np.float32))
    results = {}
    for name in ("odd", "plain"):
        res = run_child(python_module("vocoder", "infer", "--checkpoint", kit["ckpt"],
                                      "--input-mels", tmp_path / name, "--output-dir",
                                      tmp_path / f"out_{name}"), cwd=tmp_path)
        assert res.returncode == 0 and res.stderr == "", res.describe()
        results[name], _ = sf.read(str(tmp_path / f"out_{name}" / "m.wav"), dtype="int16")
    assert results["odd"].shape == (40 * 64,)
    np.testing.assert_array_equal(results["odd"], results["plain"])


# ------------------------------------------------------------------------------ checkpoints


def test_a_zip_bomb_checkpoint_is_refused_before_inflating(kit, tmp_path):
    assert kit["bomb"].stat().st_size < 4 << 20  # 2 GB of zeros in 2 MB
    res = _infer(tmp_path, kit["bomb"])
    assert res.returncode == 2
    assert_one_clean_line(res, "vocoder: error: ", "g_00000001: refused: tensor entry",
                          "is compressed", "inflate to 2.1 GB")
    assert files_under(tmp_path / "out") == []
    assert res.peak_mb < REFUSAL_MB, res.describe()


def test_checkpoints_that_would_run_code_are_refused_as_unsafe(kit, tmp_path):
    marker = tmp_path / "pwned"
    files = code_running_checkpoints(tmp_path / "evil", marker)
    for kind, path in files.items():
        (path.parent / "config.json").write_text((kit["ckpt"].parent / "config.json").read_text())
        res = _infer(tmp_path, path)
        assert res.returncode == 2, (kind, res.describe())
        assert_one_clean_line(res, "vocoder: error: ", path.name, "refused: loading it would "
                              "run code (posix.system), so it is unsafe")
        assert not marker.exists()
        assert res.peak_mb < REFUSAL_MB


def test_a_checkpoint_with_nan_weights_is_refused_not_made_into_silence(kit, tmp_path):
    res = _infer(tmp_path, kit["nan"])
    assert res.returncode == 2
    assert_one_clean_line(res, "vocoder: error: ", "'generator.ups.0.bias' holds NaN or "
                          "infinite values")
    assert files_under(tmp_path / "out") == []


# ------------------------------------------------------------------------------ outputs


def test_an_output_folder_that_is_a_file(kit, tmp_path):
    (tmp_path / "taken").write_text("mine")
    res = _infer(tmp_path, kit["ckpt"], tmp_path / "taken")
    assert res.returncode == 2
    assert_one_clean_line(res, "vocoder: error: ", "taken: is a file, not a folder")
    assert (tmp_path / "taken").read_text() == "mine"


def test_an_output_file_that_is_a_folder(kit, tmp_path):
    (tmp_path / "out" / "m.wav").mkdir(parents=True)
    res = _infer(tmp_path, kit["ckpt"])
    assert res.returncode == 2
    assert_one_clean_line(res, "vocoder: error: ", "m.wav: is a folder")
    assert files_under(tmp_path / "out") == []


needs_mount = pytest.mark.skipif(not can_mount(), reason="mounting a tmpfs needs root")


@needs_mount
def test_a_read_only_output_folder(kit, tmp_path):
    with small_filesystem(tmp_path / "ro", read_only=True) as out:
        res = _infer(tmp_path, kit["ckpt"], out)
        assert res.returncode == 2
        assert_one_clean_line(res, "vocoder: error: ", "m.wav: cannot write (Read-only file "
                              "system)")
        assert files_under(out) == []


@needs_mount
@pytest.mark.parametrize("command", ["infer", "mel"])
def test_a_full_disk(kit, tmp_path, command):
    with small_filesystem(tmp_path / "full", size="64k") as out:
        fill(out, leave=2048)
        before = files_under(out)
        if command == "infer":
            args = ["infer", "--checkpoint", kit["ckpt"], "--input-mels", _mels(tmp_path)]
        else:
            args = ["mel", "--config", kit["ckpt"].parent / "config.json", "--input-wavs",
                    _dir_with(tmp_path, "wavs", {"m.wav": _speech_wav(5.0)})]
        res = run_child(python_module("vocoder", *args, "--output-dir", out), cwd=tmp_path)
        assert res.returncode == 2
        assert_one_clean_line(res, "vocoder: error: ", f"{out / 'm'}.",
                              "cannot write (No space left on device)")
        assert files_under(out) == before  # no partial file, no temp file


def test_a_full_disk_without_mounting(kit, tmp_path):
    # The same failure where no file system can be mounted: a file-size limit makes the
    # write fail with EFBIG, as a full disk fails it with ENOSPC.
    res = _infer(tmp_path, kit["ckpt"], file_size_limit=4096)
    assert res.returncode == 2
    assert_one_clean_line(res, "vocoder: error: ", "m.wav: cannot write (File too large)")
    assert files_under(tmp_path / "out") == []


# ------------------------------------------------------------------------------ synth


def test_synth_resynth_refuses_a_1_hz_wav(kit, tmp_path):
    (tmp_path / "one_hz.wav").write_bytes(wav_bytes(181_000, 1))
    res = run_child(python_module("synth", "resynth", tmp_path / "one_hz.wav", "-o",
                                  tmp_path / "out.wav", "--vocoder", kit["ckpt"], "--device",
                                  "cpu"), cwd=tmp_path)
    assert res.returncode == 2
    assert_one_clean_line(res, "synth: error: ", "one_hz.wav: sample rate 1 Hz is not usable")
    assert not (tmp_path / "out.wav").exists()
    assert res.peak_mb < REFUSAL_MB


def test_synth_tts_refuses_196k_characters_before_speaking(kit, tmp_path):
    text = ("The quick brown fox jumps over the lazy dog. " * 4400)[:196_000]
    res = run_child(python_module("synth", "tts", "-", "-o", tmp_path / "out.wav", "--vocoder",
                                  kit["ckpt"], "--device", "cpu"), cwd=tmp_path,
                    stdin=text.encode())
    assert res.returncode == 2
    assert_one_clean_line(res, "synth: error: ", "text of 10,001 characters is longer than the "
                          "limit of 10,000", "(raise it with --max-text-chars)")
    assert not (tmp_path / "out.wav").exists()
    assert res.peak_mb < REFUSAL_MB, res.describe()


def _manifest(tmp_path: Path, lines: list[dict]) -> Path:
    path = tmp_path / "manifest.jsonl"
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines),
                    encoding="utf-8")
    return path


def test_synth_batch_fails_bad_items_and_goes_on(kit, tmp_path):
    (tmp_path / "good.wav").write_bytes(_speech_wav(1.0))
    (tmp_path / "one_hz.wav").write_bytes(wav_bytes(181_000, 1))
    long_id = "語" * 150  # 150 characters, 450 bytes: too long for a file name
    manifest = _manifest(tmp_path, [{"id": "first", "source": "good.wav"},
                                    {"id": "hz", "source": "one_hz.wav"},
                                    {"id": long_id, "source": "good.wav"},
                                    {"id": "last", "source": "good.wav"}])
    out = tmp_path / "out"
    res = run_child(python_module("synth", "batch", manifest, "--output-dir", out, "--vocoder",
                                  kit["ckpt"], "--device", "cpu"), cwd=tmp_path)
    assert res.returncode == 1, res.describe()
    lines = res.error_lines
    assert len(lines) == 2 and "Traceback" not in res.stderr, res.describe()
    assert lines[0].startswith("synth: item (no id) (line 3) failed: id too long for a file "
                               "name: '語語語")
    assert "makes a 454-byte name (at most 241 bytes" in lines[0]
    assert lines[1].startswith("synth: item 'hz' (line 2) failed: ")
    assert "one_hz.wav: sample rate 1 Hz is not usable" in lines[1]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["done_ids"] == ["first", "last"] and summary["failed"] == 2
    assert files_under(out) == ["first.wav", "last.wav", "summary.json"]
    assert res.peak_mb < REFUSAL_MB + 200, res.describe()


@needs_mount
def test_synth_batch_on_a_full_disk_fails_each_item_and_writes_the_summary(kit, tmp_path):
    (tmp_path / "good.wav").write_bytes(_speech_wav(2.0))
    manifest = _manifest(tmp_path, [{"id": f"u{i}", "source": "good.wav"} for i in range(3)])
    with small_filesystem(tmp_path / "full", size="64k") as out:
        fill(out, leave=16384)  # room for the summary, not for a 64 kB WAV
        res = run_child(python_module("synth", "batch", manifest, "--output-dir", out,
                                      "--vocoder", kit["ckpt"], "--device", "cpu"),
                        cwd=tmp_path)
        assert res.returncode == 1, res.describe()
        assert len(res.error_lines) == 3 and "Traceback" not in res.stderr, res.describe()
        for i, line in enumerate(sorted(res.error_lines)):
            assert line.startswith(f"synth: item 'u{i}' (line {i + 1}) failed: ")
            assert line.endswith(f"u{i}.wav: cannot write (No space left on device)")
        summary = json.loads((out / "summary.json").read_text())
        assert summary["failed"] == 3 and summary["done"] == 0
        assert files_under(out) == [".filler", "summary.json"]


def test_synth_batch_write_errors_are_per_item(kit, tmp_path):
    (tmp_path / "good.wav").write_bytes(_speech_wav(1.0))
    manifest = _manifest(tmp_path, [{"id": "blocked", "source": "good.wav"},
                                    {"id": "fine", "source": "good.wav"}])
    out = tmp_path / "out"
    (out / "blocked.wav").mkdir(parents=True)  # a folder where the output goes
    res = run_child(python_module("synth", "batch", manifest, "--output-dir", out, "--vocoder",
                                  kit["ckpt"], "--device", "cpu"), cwd=tmp_path)
    assert res.returncode == 1, res.describe()
    assert_one_clean_line(res, "synth: item 'blocked' (line 1) failed: ", "blocked.wav: is a "
                          "folder")
    assert json.loads((out / "summary.json").read_text())["done_ids"] == ["fine"]


def test_synth_output_in_a_place_that_cannot_take_it(kit, tmp_path):
    (tmp_path / "in.wav").write_bytes(_speech_wav(1.0))
    (tmp_path / "taken").write_text("mine")
    res = run_child(python_module("synth", "resynth", tmp_path / "in.wav", "-o",
                                  tmp_path / "taken" / "out.wav", "--vocoder", kit["ckpt"],
                                  "--device", "cpu"), cwd=tmp_path)
    assert res.returncode == 2
    assert_one_clean_line(res, "synth: error: ", "taken: is a file, not a folder")
    assert (tmp_path / "taken").read_text() == "mine"
