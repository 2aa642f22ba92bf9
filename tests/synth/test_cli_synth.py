"""The synthesis sub-commands: exit codes, one-line errors, outputs; `synth batch` killed and resumed.

Most cases call ``synth.cli.main`` in-process (each subprocess costs a torch import); the
subprocess tests are the ones that must be real processes: stdin, and a SIGKILL mid-run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from synth.cli import main
from tests.conftest import REPO, speechlike, write_wav
from tests.synth.pipeline_models import save_tiny_mel_vocoder
from vocoder.audio import load_audio

SR, HOP = 16000, 64


@pytest.fixture(scope="module")
def voc(tmp_path_factory) -> Path:
    return save_tiny_mel_vocoder(tmp_path_factory.mktemp("voc"), resblock="2")  # the cheaper kind


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch) -> None:
    """An empty model cache, offline, outside any torchrun job."""
    for name in ("HIFISYNTH_REGISTRY", "RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HIFISYNTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HIFISYNTH_OFFLINE", "1")


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("synth: error: ")
    return err[0]


def test_tts_resynth_vocode(voc, tmp_path, capsys) -> None:
    out = tmp_path / "tts.wav"
    assert main(["tts", "Hello there, 2 cats.", "-o", str(out), "--vocoder", str(voc)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} (")
    wav, sr = load_audio(out)
    assert sr == SR and len(wav) % HOP == 0 and len(wav) > 0.8 * SR

    src = write_wav(tmp_path / "src.wav", speechlike(0.5, 22050), 22050)
    assert main(["resynth", str(src), "-o", str(tmp_path / "re.wav"), "--vocoder", str(voc)]) == 0
    wav, sr = load_audio(tmp_path / "re.wav")
    assert sr == SR and len(wav) == (8000 // HOP) * HOP

    from tests.synth.pipeline_models import make_synth

    mel = make_synth(voc).mel(speechlike(0.4, SR)).numpy()
    np.save(tmp_path / "mel.npy", mel)
    assert main(["vocode", str(tmp_path / "mel.npy"), "-o", str(tmp_path / "v.wav"),
                 "--vocoder", str(voc)]) == 0
    assert len(load_audio(tmp_path / "v.wav")[0]) == mel.shape[1] * HOP
    np.save(tmp_path / "melT.npy", mel.T)
    capsys.readouterr()
    assert main(["vocode", str(tmp_path / "melT.npy"), "-o", str(tmp_path / "v2.wav"),
                 "--vocoder", str(voc)]) == 2
    assert "looks transposed" in error_line(capsys)


def test_default_vocoder_missing_offline_says_how_to_get_it(tmp_path, capsys) -> None:
    out = tmp_path / "x.wav"
    assert main(["tts", "Hello.", "-o", str(out)]) == 1
    line = error_line(capsys)
    for text in ("hifigan-v3-ljspeech", "HIFISYNTH_OFFLINE=1", "synth models download",
                 "https://download.pytorch.org/torchaudio/models/hifigan_vocoder_v3_ljspeech.pth",
                 "--vocoder griffinlim"):
        assert text in line
    assert not out.exists()
    (tmp_path / "m.txt").write_text("a|Hello.\nb|\n")
    assert main(["batch", str(tmp_path / "m.txt"), "--output-dir", str(tmp_path / "out")]) == 1
    assert "--vocoder griffinlim" in error_line(capsys)  # the one line, before any item report
    assert main(["tts", "Hello.", "-o", str(out), "--vocoder", "griffinlim"]) == 0
    assert load_audio(out)[1] == 22050


@pytest.mark.parametrize("args, message", [
    (["tts", "  ", "-o", "{tmp}/a.wav", "--vocoder", "none"], "empty text"),
    (["tts", "...", "-o", "{tmp}/a.wav", "--vocoder", "none"], "nothing to speak"),
    (["tts", "Hi.", "-o", "{tmp}", "--vocoder", "none"], "is a folder"),
    (["tts", "Hi.", "-o", "{tmp}/a.wav", "--vocoder", "hifigan-v9"],
     "unknown model 'hifigan-v9': did you mean 'hifigan-v3-ljspeech'?"),
    (["tts", "Hi.", "-o", "{tmp}/a.wav", "--vocoder", "knnvc-hifigan"],
     "'knnvc-hifigan' is a feature vocoder, not a mel vocoder"),
    (["tts", "Hi.", "-o", "{tmp}/a.wav", "--vocoder", "{tmp}/none.pt"], "model file not found"),
    (["resynth", "{tmp}/missing.wav", "-o", "{tmp}/a.wav", "--vocoder", "{voc}"],
     "missing.wav: audio file not found"),
    (["resynth", "{voc}", "-o", "{tmp}/a.wav", "--vocoder", "{voc}"], "cannot read audio"),
    (["resynth", "{tmp}/a.wav", "-o", "{tmp}/b.wav", "--vocoder", "none"], "needs a mel vocoder"),
    (["vocode", "{tmp}/missing.npy", "-o", "{tmp}/a.wav", "--vocoder", "{voc}"], "mel file not found"),
    (["resynth", "{tmp}/a.wav", "-o", "{tmp}/b.wav", "--vocoder", "{voc}", "--device", "cuda:7"],
     "CUDA is not available" if not __import__("torch").cuda.is_available() else "cuda"),
    (["resynth", "{tmp}/a.wav", "-o", "{tmp}/b.wav", "--vocoder", "{voc}", "--dtype", "float16",
      "--device", "cpu"], "float16 needs a GPU"),
    (["batch", "{tmp}/missing.txt", "--output-dir", "{tmp}/out", "--vocoder", "{voc}"],
     "missing.txt: manifest not found"),
    (["batch", "{tmp}/m.txt", "--output-dir", "{tmp}/out", "--shard", "2/2"], "0 <= I < N"),
    (["batch", "{tmp}/m.txt", "--output-dir", "{tmp}/a.wav"], "exists and is not a folder"),
    (["batch", "{tmp}/m.txt", "--output-dir", "{tmp}/out", "--batch-size", "0"], "at least 1"),
])
def test_bad_input_one_line_exit_2(args, message, voc, tmp_path, capsys) -> None:
    write_wav(tmp_path / "a.wav", speechlike(0.2, SR), SR)
    (tmp_path / "m.txt").write_text("a|Hello.\n")
    args = [a.format(tmp=tmp_path, voc=voc) for a in args]
    assert main(args) == 2
    assert message in error_line(capsys)


def test_usage_errors(capsys) -> None:
    for args, text in ((["convert", "a.wav", "-o", "b.wav"], "one of the arguments --reference"),
                       (["tts", "hi"], "required: -o/--output"),
                       (["batch", "m.txt"], "required: --output-dir")):
        with pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and text in err[0]


def test_help_explains_each_command(capsys) -> None:
    for command, words in (("tts", ["espeak-ng", "--voice", "griffinlim", "Exit codes"]),
                           ("convert", ["kNN-VC", "--reference", "--voice"]),
                           ("resynth", ["Copy synthesis"]), ("vocode", [".npy", "num_mels"]),
                           ("voice", ["matching", "VOICE.pt"]),
                           ("batch", ["id|text|voice", "JSONL", "--shard", "RANK/WORLD_SIZE",
                                      "Resuming", "summary", "RTF"])):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        out = " ".join(capsys.readouterr().out.split())
        for word in words:
            assert word in out, (command, word)


def test_batch_under_torchrun_env_uses_rank(voc, tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "m.txt").write_text("".join(f"u{i}|Item {i}.\n" for i in range(5)))
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    out = tmp_path / "out"
    assert main(["batch", str(tmp_path / "m.txt"), "--output-dir", str(out), "--vocoder", str(voc),
                 "--quiet"]) == 0
    summary = json.loads((out / "summary-shard-1-of-2.json").read_text())
    assert summary["shard"] == {"index": 1, "count": 2}
    assert summary["done_ids"] == ["u1", "u3"] and summary["items"] == 2
    assert sorted(p.name for p in out.glob("*.wav")) == ["u1.wav", "u3.wav"]
    assert "shard 1/2: 2 done, 0 skipped, 0 failed of 2" in capsys.readouterr().out


def test_voice_convert_and_tts_in_a_voice(tmp_path, monkeypatch, capsys) -> None:
    from tests.synth.pipeline_models import registry_file, save_tiny_vc_models

    models = save_tiny_vc_models(tmp_path / "models")
    monkeypatch.setenv("HIFISYNTH_REGISTRY", str(registry_file(tmp_path / "models", models["entries"])))
    monkeypatch.delenv("HIFISYNTH_OFFLINE")  # the cache fetches the tiny models from file:// URLs
    vc = ["--vc-vocoder", "tiny-knnvc", "--extractor", "tiny-wavlm"]
    ref = write_wav(tmp_path / "ref.wav", speechlike(1.5, SR, seed=1), SR)
    src = write_wav(tmp_path / "src.wav", speechlike(0.7, 22050, seed=2), 22050)
    voice = tmp_path / "me.pt"
    assert main(["voice", str(ref), "-o", str(voice), *vc]) == 0
    assert "tiny-wavlm layer 2" in capsys.readouterr().out and voice.is_file()
    assert main(["convert", str(src), "--voice", str(voice), "-o", str(tmp_path / "c1.wav"), *vc]) == 0
    assert main(["convert", str(src), "--reference", str(ref), "-o", str(tmp_path / "c2.wav"),
                 "--loudness", "none", *vc]) == 0
    c1, sr = load_audio(tmp_path / "c1.wav")
    c2, _ = load_audio(tmp_path / "c2.wav")
    assert sr == SR and len(c1) == len(c2) == ((int(0.7 * SR) - 400) // 320 + 1) * 320
    assert main(["tts", "Hello there.", "--voice", str(voice), "-o", str(tmp_path / "t.wav"),
                 "--vocoder", "none", *vc]) == 0
    assert load_audio(tmp_path / "t.wav")[1] == SR
    capsys.readouterr()
    assert main(["convert", str(src), "--voice", str(voice), "-o", str(tmp_path / "c3.wav"),
                 "--layer", "1", *vc]) == 2
    assert "made with layer 2 (expected 1)" in error_line(capsys)
    assert main(["voice", str(tmp_path / "none.wav"), "-o", str(tmp_path / "x.pt"), *vc]) == 2
    assert "none.wav: voice not found" in error_line(capsys)


# ----------------------------------------------------------------------------- real processes

def synth_process(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "synth", *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_tts_reads_stdin(voc, tmp_path) -> None:
    proc = synth_process("tts", "-", "-o", str(tmp_path / "in.wav"), "--vocoder", str(voc),
                         stdin=subprocess.PIPE)
    out, err = proc.communicate("Text from standard input.", timeout=120)
    assert proc.returncode == 0, err
    assert out.startswith("wrote ") and load_audio(tmp_path / "in.wav")[1] == SR


def test_batch_killed_then_resumed(voc, tmp_path) -> None:
    clip = write_wav(tmp_path / "clip.wav", speechlike(0.4, SR), SR)
    rows = [json.dumps({"id": f"t{i:03d}", "text": f"Item {i}."}) for i in range(40)]
    rows[10:10] = [json.dumps({"id": "copy", "source": clip.name}),
                   json.dumps({"id": "empty", "text": ""}),
                   json.dumps({"id": "gone", "source": "gone.wav"}),
                   "{not json"]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(rows) + "\n")
    good = {f"t{i:03d}" for i in range(40)} | {"copy"}
    out = tmp_path / "out"
    args = ("batch", str(manifest), "--output-dir", str(out), "--vocoder", str(voc),
            "--batch-size", "2")

    proc = synth_process(*args)
    deadline = time.monotonic() + 120
    while len(list(out.glob("*.wav"))) < 6 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    first = {p.stem for p in out.glob("*.wav")}
    assert 6 <= len(first) < len(good) and first <= good
    assert not (out / "summary.json").exists()
    for ident in first:  # every file there is complete (written atomically)
        wav, sr = load_audio(out / f"{ident}.wav")
        assert sr == SR and len(wav) > 0.3 * SR

    proc = synth_process(*args)
    said, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err  # bad items failed; the rest were done
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped"] == len(first)
    assert set(summary["done_ids"]) == good - first
    assert sorted(f["id"] or f"line{f['line']}" for f in summary["failures"]) == \
        ["empty", "gone", "line14"]
    assert {p.stem for p in out.glob("*.wav")} == good
    assert not list(out.glob(".*.tmp"))
    # No progress bar in a pipe (a terminal gets one): stderr holds one line per bad item,
    # and one note that text went through the base voice for want of Tacotron2.
    assert "RTF" in said and "synth: item 'empty' (line 12) failed: empty text" in err
    lines = err.splitlines()
    notes = [line for line in lines if line.startswith("synth: note: ")]
    assert len(notes) == 1 and "synth models download tacotron2-characters-ljspeech" in notes[0]
    assert len(lines) == 4 and "synth batch" not in err
