"""``synth tts`` and ``synth batch`` with a tiny random Tacotron2: parity with torchaudio's
``Tacotron2.infer`` through the command (``--seed``, ``--mel-out``), the default acoustic model
(Tacotron2 only when its weights are in the cache, else the base voice with one note),
mismatched vocoders and decoders that never stop as one line, and per-item seeds in batch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from synth.batch import item_seed
from synth.cli import main
from tests.conftest import speechlike, write_wav
from tests.synth.pipeline_models import registry_file, save_tiny_mel_vocoder
from tests.synth.test_cli_synth import isolated_env  # noqa: F401 - autouse: empty cache, offline
from tests.synth.tacotron2_models import (acoustic_entry, save_tiny_ljspeech_vocoder,
                                          save_tiny_tacotron2, tiny_tacotron2)
from vocoder.audio import load_audio

HOP = 256


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tts-cli")
    return {"t2": save_tiny_tacotron2(root / "t2.pth"),
            "t2long": save_tiny_tacotron2(root / "t2long.pth", frames=80),
            "never": save_tiny_tacotron2(root / "never.pth", frames=None),
            "voc": save_tiny_ljspeech_vocoder(root / "lj"),
            "voc16k": save_tiny_mel_vocoder(root / "v16k")}


def same_audio(a: Path, b: Path) -> bool:
    """Two WAV files of the same length within one 16-bit step (batched vocoding may round
    the last bit differently)."""
    x, y = load_audio(a)[0], load_audio(b)[0]
    return x.shape == y.shape and np.abs(x - y).max() <= 1 / 32767 + 1e-7


def stderr_lines(capsys) -> tuple[str, list[str]]:
    captured = capsys.readouterr()
    return captured.out, captured.err.strip().splitlines()


def test_seeded_mel_equals_torchaudios_infer_through_the_command(models, tmp_path,
                                                                 capsys) -> None:
    from torchaudio.pipelines import TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH

    text, seed = "hello world, this is a test.", 1234
    out, mel_out = tmp_path / "out.wav", tmp_path / "mel.npy"
    assert main(["tts", text, "-o", str(out), "--acoustic", str(models["t2long"]), "--vocoder",
                 str(models["voc"]), "--seed", str(seed), "--mel-out", str(mel_out)]) == 0
    stdout, err = stderr_lines(capsys)
    assert stdout.startswith(f"wrote {out} (") and f"t2long.pth, seed {seed})" in stdout
    assert err == []

    model = tiny_tacotron2(frames=80)  # the same weights, torchaudio's own pipeline
    tokens, lengths = TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH.get_text_processor()(text)
    torch.manual_seed(seed)
    with torch.inference_mode():
        expected, expected_lengths, _ = model.infer(tokens, lengths)
    expected = expected[0, :, :expected_lengths[0]].numpy()
    got = np.load(mel_out)
    assert got.dtype == np.float32 and expected.shape[1] >= 50
    np.testing.assert_array_equal(got, expected)  # the whole sentence, bit for bit
    wav, sr = load_audio(out)
    assert sr == 22050 and len(wav) == got.shape[1] * HOP
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_default_is_tacotron2_when_its_weights_are_in_the_cache(models, tmp_path,
                                                                    monkeypatch, capsys,
                                                                    model_server) -> None:
    model_server.files["/t2.pth"] = models["t2"].read_bytes()
    monkeypatch.setenv("HIFISYNTH_REGISTRY", str(registry_file(tmp_path, [
        acoustic_entry("tacotron2-characters-ljspeech", model_server.url("t2.pth"))])))
    voc = ["--vocoder", str(models["voc"])]
    out = tmp_path / "a.wav"
    # not in the cache: the base voice speaks, with one note saying how to get Tacotron2
    assert main(["tts", "Hello there.", "-o", str(out), *voc]) == 0
    stdout, err = stderr_lines(capsys)
    assert "; espeak-ng)" in stdout and len(err) == 1
    assert err[0].startswith("synth: note: spoken by the espeak-ng base voice: no Tacotron2 "
                             "weights are in the model cache")
    assert "`synth models download tacotron2-characters-ljspeech`" in err[0]
    assert model_server.requests == []  # 'auto' never downloads
    # asked for by name while offline: the error says how to get it, and the way around it
    assert main(["tts", "Hi.", "-o", str(out), "--acoustic", "tacotron2-characters-ljspeech",
                 *voc]) == 1
    _, err = stderr_lines(capsys)
    assert len(err) == 1 and "HIFISYNTH_OFFLINE=1" in err[0]
    assert err[0].endswith("the espeak-ng base voice needs no download: --acoustic espeak")

    monkeypatch.delenv("HIFISYNTH_OFFLINE")
    assert main(["models", "download", "tacotron2-characters-ljspeech", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["tts", "Hello there.", "-o", str(out), *voc, "--seed", "7"]) == 0
    stdout, err = stderr_lines(capsys)
    assert "; tacotron2-characters-ljspeech, seed 7)" in stdout and err == []
    # espeak by name: no note
    assert main(["tts", "Hello there.", "-o", str(out), *voc, "--acoustic", "espeak"]) == 0
    stdout, err = stderr_lines(capsys)
    assert "; espeak-ng)" in stdout and err == []


@pytest.mark.parametrize("extra, message", [
    (["--vocoder", "{voc16k}"], "t2.pth makes mels of 22050 Hz, n_fft 1024, hop 256, window "
                                "1024, 80 mels, 0-8000 Hz, but g_00000001 was trained on 16000 Hz"),
    (["--vocoder", "none"], "t2.pth makes mels: it needs a mel vocoder, not 'none'"),
    (["--acoustic", "{voc}"], "not a Tacotron2 state dict"),
    (["--acoustic", "{tmp}/missing.pth"], "missing.pth: model file not found"),
    (["--acoustic", "hifigan-v3-ljspeech"], "'hifigan-v3-ljspeech' is a mel vocoder, not an "
                                            "acoustic model (use it with --vocoder)"),
    (["--acoustic", "espeak", "--voice", "{tmp}/r.wav", "--mel-out", "{tmp}/m.npy"],
     "--mel-out: no mel is vocoded when the espeak-ng base voice is converted into a --voice"),
    (["--mel-out", "{tmp}"], "is a folder"),
    (["--acoustic", "{never}"], "never.pth did not finish sentence 1 ('Hi there.'): no stop "
                                "after 280 frames (3.3 s)"),
])
def test_bad_input_is_one_line_and_exit_2(models, tmp_path, capsys, extra, message) -> None:
    write_wav(tmp_path / "r.wav", speechlike(1.0, 16000), 16000)
    args = ["tts", "Hi there.", "-o", str(tmp_path / "a.wav"), "--acoustic", str(models["t2"]),
            "--vocoder", str(models["voc"]), "--seed", "1"]
    args += [a.format(tmp=tmp_path, **{k: str(v) for k, v in models.items()}) for a in extra]
    assert main(args) == 2
    _, err = stderr_lines(capsys)
    assert len(err) == 1 and err[0].startswith("synth: error: ") and message in err[0], err
    assert not (tmp_path / "a.wav").exists() and not (tmp_path / "m.npy").exists()
    if "differ" in err[0]:
        assert err[0].endswith("(--vocoder: one trained on the acoustic model's mel, e.g. "
                               "hifigan-v3-ljspeech or griffinlim; or --acoustic espeak)")


def test_seed_must_be_a_small_integer(capsys) -> None:
    for bad in ("-1", "x", str(2**31)):
        with pytest.raises(SystemExit) as info:
            main(["tts", "Hi.", "-o", "a.wav", "--seed", bad])
        assert info.value.code == 2
        _, err = stderr_lines(capsys)
        assert len(err) == 1 and "--seed" in err[0]


def test_help_explains_the_acoustic_model(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["tts", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for words in ("Tacotron2", "tacotron2-characters-ljspeech", "--acoustic NAME|PATH|espeak",
                  "--seed N", "--mel-out M.npy", "'auto'", "reproducible"):
        assert words in out, words


def test_batch_gives_each_text_item_its_own_seed(models, tmp_path, capsys) -> None:
    manifest = tmp_path / "m.txt"
    manifest.write_text("a|Hello world, this is a test.\nb|A second item.\n"
                        "c|Greek letters αβγ cannot be read.\nd|The last item. Two sentences.\n")
    common = ["--acoustic", str(models["t2"]), "--vocoder", str(models["voc"]), "--seed", "5",
              "--quiet"]
    out = tmp_path / "out"
    assert main(["batch", str(manifest), "--output-dir", str(out), *common]) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(summary["done_ids"]) == ["a", "b", "d"]
    assert summary["seed"] == 5 and summary["acoustic"] == "t2.pth"
    (failure,) = summary["failures"]
    assert failure["id"] == "c" and "reads English letters only" in failure["reason"]
    first = tmp_path / "first"
    out.rename(first)

    # each item is what 'synth tts' gives it with its derived seed
    for ident, text in (("b", "A second item."), ("d", "The last item. Two sentences.")):
        assert main(["tts", text, "-o", str(tmp_path / f"{ident}.wav"), *common[:4],
                     "--seed", str(item_seed(5, ident)), "--mel-out",
                     str(tmp_path / f"{ident}.npy")]) == 0
        assert same_audio(tmp_path / f"{ident}.wav", first / f"{ident}.wav")
    assert not np.array_equal(np.load(tmp_path / "b.npy")[:, :20],
                              np.load(tmp_path / "d.npy")[:, :20])  # seeds differ per item
    # two shards give the same files; so does a resumed run that lost an output
    for shard in ("0/2", "1/2"):
        main(["batch", str(manifest), "--output-dir", str(out), *common, "--shard", shard])
    assert sorted(p.name for p in out.glob("*.wav")) == ["a.wav", "b.wav", "d.wav"]
    for ident in "abd":
        assert same_audio(out / f"{ident}.wav", first / f"{ident}.wav")
    (out / "a.wav").unlink()
    assert main(["batch", str(manifest), "--output-dir", str(out), *common]) == 1
    assert same_audio(out / "a.wav", first / "a.wav")
    # another run seed, other audio
    main(["batch", str(manifest), "--output-dir", str(tmp_path / "other"), *common[:4],
          "--seed", "6", "--quiet"])
    assert not same_audio(tmp_path / "other" / "a.wav", first / "a.wav")


def test_batch_reports_a_decoder_that_never_stops_per_item(models, tmp_path, capsys) -> None:
    clip = write_wav(tmp_path / "clip.wav", speechlike(0.5, 22050), 22050)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "t", "text": "Hi there."}) + "\n"
                        + json.dumps({"id": "s", "source": clip.name}) + "\n")
    assert main(["batch", str(manifest), "--output-dir", str(tmp_path / "out"), "--acoustic",
                 str(models["never"]), "--vocoder", str(models["voc"]), "--quiet"]) == 1
    _, err = stderr_lines(capsys)
    (line,) = [e for e in err if "item 't'" in e]
    assert line.startswith("synth: item 't' (line 1) failed: never.pth did not finish sentence "
                           "1 ('Hi there.'): no stop after 280 frames")
    assert line.endswith("(--seed: another seed)")
    assert sorted(p.name for p in (tmp_path / "out").glob("*.wav")) == ["s.wav"]


def test_batch_refuses_a_vocoder_of_another_mel_before_any_item(models, tmp_path,
                                                                 capsys) -> None:
    (tmp_path / "m.txt").write_text("a|Hello.\nb|There.\n")
    assert main(["batch", str(tmp_path / "m.txt"), "--output-dir", str(tmp_path / "out"),
                 "--acoustic", str(models["t2"]), "--vocoder", str(models["voc16k"]),
                 "--quiet"]) == 2
    _, err = stderr_lines(capsys)
    assert len(err) == 1 and "differ): it cannot vocode them" in err[0]
    assert not list((tmp_path / "out").glob("*.wav"))
