"""`vocoder mel` and `vocoder infer` run as a user runs them, on real files."""

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.conftest import run_cli, speechlike, tiny_config, write_wav
from vocoder.checkpoint import save_generator
from vocoder.generator import HiFiGANGenerator
from vocoder.mel import MelSpectrogram


@pytest.fixture
def run_dir(tmp_path):
    cfg = tiny_config()
    torch.manual_seed(0)
    save_generator(tmp_path / "ckpt" / "g_00000100", HiFiGANGenerator(cfg.generator), cfg)
    return tmp_path / "ckpt"


@pytest.fixture
def wavs(tmp_path):
    d = tmp_path / "wavs"
    write_wav(d / "a.wav", speechlike(0.5, 16000, seed=1), 16000)
    write_wav(d / "b.flac", speechlike(0.3, 16000, seed=2), 16000)
    return d


def _no_temp_files(directory):
    return not [p for p in directory.rglob("*") if p.name.endswith(".tmp")]


def test_help_explains_commands():
    for sub in ("mel", "infer"):
        res = run_cli("vocoder", sub, "--help")
        assert res.returncode == 0
        assert "--output-dir" in res.stdout and "--input-wavs" in res.stdout
    assert "--dtype" in run_cli("vocoder", "infer", "--help").stdout


def test_mel_writes_float32_arrays_matching_the_frontend(run_dir, wavs, tmp_path):
    out = tmp_path / "mels"
    res = run_cli("vocoder", "mel", "--config", run_dir / "config.json",
                  "--input-wavs", wavs, "--output-dir", out)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.npy", "b.npy"]
    mel = np.load(out / "a.npy")
    assert mel.dtype == np.float32 and mel.shape == (20, 8000 // 64)
    wav, _ = sf.read(wavs / "a.wav", dtype="float32")
    expected = MelSpectrogram(tiny_config().audio)(torch.from_numpy(wav)).numpy()
    np.testing.assert_allclose(mel, expected, atol=1e-5)


def test_mel_resamples_other_rates_and_says_so(run_dir, tmp_path):
    write_wav(tmp_path / "in" / "hi.wav", speechlike(0.5, 44100), 44100)
    res = run_cli("vocoder", "mel", "--config", run_dir / "config.json",
                  "--input-wavs", tmp_path / "in", "--output-dir", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    assert "resampling from 44100 Hz to the config's 16000 Hz" in res.stderr
    assert np.load(tmp_path / "out" / "hi.npy").shape == (20, 8000 // 64)


def test_infer_from_mels_writes_16bit_wavs_of_the_right_length(run_dir, tmp_path):
    mels = tmp_path / "mels"
    mels.mkdir()
    rng = np.random.default_rng(0)
    np.save(mels / "two_d.npy", rng.normal(-5, 1, (20, 40)).astype(np.float32))
    np.save(mels / "three_d.npy", rng.normal(-5, 1, (1, 20, 25)).astype(np.float32))
    out = tmp_path / "out"
    res = run_cli("vocoder", "infer", "--checkpoint", run_dir / "g_00000100",
                  "--input-mels", mels, "--output-dir", out, "--device", "cpu")
    assert res.returncode == 0, res.stderr
    info = sf.info(str(out / "two_d.wav"))
    assert (info.samplerate, info.subtype, info.channels, info.frames) == (16000, "PCM_16", 1, 40 * 64)
    assert sf.info(str(out / "three_d.wav")).frames == 25 * 64
    assert "2 files, 0.26 s of audio" in res.stdout and "real-time factor" in res.stdout


def test_infer_from_wavs_resynthesises_same_length(run_dir, wavs, tmp_path):
    out = tmp_path / "out"
    res = run_cli("vocoder", "infer", "--checkpoint", run_dir / "g_00000100", "--input-wavs",
                  wavs, "--output-dir", out, "--dtype", "bfloat16")
    assert res.returncode == 0, res.stderr
    assert sf.info(str(out / "a.wav")).frames == 8000 // 64 * 64
    assert sf.info(str(out / "b.wav")).frames == 4800 // 64 * 64
    assert "bfloat16" in res.stdout


def test_infer_matches_python_api(run_dir, tmp_path):
    from vocoder.inference import Vocoder

    mels = tmp_path / "mels"
    mels.mkdir()
    mel = np.random.default_rng(3).normal(-5, 1, (20, 30)).astype(np.float32)
    np.save(mels / "x.npy", mel)
    run_cli("vocoder", "infer", "--checkpoint", run_dir / "g_00000100", "--input-mels", mels,
            "--output-dir", tmp_path / "out")
    written, _ = sf.read(str(tmp_path / "out" / "x.wav"), dtype="float32")
    expected = Vocoder.from_checkpoint(run_dir / "g_00000100", device="cpu").synthesize(mel)
    np.testing.assert_allclose(written, expected, atol=1.5 / 32767)


@pytest.mark.parametrize("case, needle", [
    ("wrong_channels", "expected an array of shape (20, frames) or (1, 20, frames), got (80, 30)"),
    ("transposed", "looks transposed"),
    ("nan", "contains NaN or infinite values"),
    ("pickle", "not a plain .npy array"),
    ("corrupt", "cannot read .npy file"),
])
def test_infer_bad_mels_exit_2_naming_the_file(run_dir, tmp_path, case, needle):
    mels = tmp_path / "mels"
    mels.mkdir()
    np.save(mels / "aa_good.npy", np.zeros((20, 10), np.float32))
    bad = mels / "zz_bad.npy"
    if case == "wrong_channels":
        np.save(bad, np.zeros((80, 30), np.float32))
    elif case == "transposed":
        np.save(bad, np.zeros((30, 20), np.float32))
    elif case == "nan":
        arr = np.zeros((20, 30), np.float32)
        arr[3, 4] = np.nan
        np.save(bad, arr)
    elif case == "pickle":
        np.save(bad, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        bad.write_bytes(b"\x93NUMPY garbage")
    out = tmp_path / "out"
    res = run_cli("vocoder", "infer", "--checkpoint", run_dir / "g_00000100",
                  "--input-mels", mels, "--output-dir", out)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert lines[-1].startswith("vocoder: error: ") and "zz_bad.npy" in lines[-1], res.stderr
    assert needle in lines[-1]
    assert "Traceback" not in res.stderr
    assert not (out / "zz_bad.wav").exists() and _no_temp_files(tmp_path)


@pytest.mark.parametrize("case, needle", [
    ("missing_ckpt", "g_99999999: model file not found"),
    ("corrupt_ckpt", "not a PyTorch checkpoint, or the file is corrupt"),
    ("empty_dir", "no audio files found"),
    ("bad_audio", "cannot read audio"),
    ("missing_dir", "input directory not found"),
    ("short_audio", "audio of 10 samples is too short: the mel frontend needs at least 97"),
])
def test_infer_bad_inputs_exit_2(run_dir, wavs, tmp_path, case, needle):
    ckpt = run_dir / "g_00000100"
    inputs = wavs
    if case == "missing_ckpt":
        ckpt = run_dir / "g_99999999"
    elif case == "corrupt_ckpt":
        ckpt = run_dir / "g_corrupt"
        ckpt.write_bytes(b"PK\x03\x04 not really a zip")
    elif case == "empty_dir":
        inputs = tmp_path / "empty"
        inputs.mkdir()
    elif case == "bad_audio":
        (wavs / "c_broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    elif case == "missing_dir":
        inputs = tmp_path / "nowhere"
    elif case == "short_audio":
        write_wav(wavs / "c_short.wav", np.zeros(10, np.float32), 16000)
    out = tmp_path / "out"
    res = run_cli("vocoder", "infer", "--checkpoint", ckpt, "--input-wavs", inputs,
                  "--output-dir", out)
    assert res.returncode == 2, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("vocoder: error: ") and needle in last, res.stderr
    assert "Traceback" not in res.stderr
    if case == "bad_audio":
        assert "c_broken.wav" in last
    assert _no_temp_files(tmp_path)


def test_mel_bad_config_and_short_audio(tmp_path, wavs):
    res = run_cli("vocoder", "mel", "--config", tmp_path / "nope.json", "--input-wavs", wavs,
                  "--output-dir", tmp_path / "o")
    assert res.returncode == 2 and "config file not found" in res.stderr
    write_wav(tmp_path / "short" / "s.wav", np.zeros(10, np.float32), 22050)
    res = run_cli("vocoder", "mel", "--config", "v1", "--input-wavs", tmp_path / "short",
                  "--output-dir", tmp_path / "o")
    assert res.returncode == 2 and "s.wav: audio of 10 samples is too short: the mel frontend needs at least 385" in res.stderr


def test_feature_vocoder_refuses_wav_input_but_takes_feature_arrays(tmp_path, wavs):
    cfg = tiny_config(input_dim=24)
    save_generator(tmp_path / "knn" / "g_1", HiFiGANGenerator(cfg.generator), cfg)
    res = run_cli("vocoder", "infer", "--checkpoint", tmp_path / "knn" / "g_1",
                  "--input-wavs", wavs, "--output-dir", tmp_path / "o")
    assert res.returncode == 2 and "feature-input vocoder cannot resynthesise" in res.stderr
    feats = tmp_path / "feats"
    feats.mkdir()
    np.save(feats / "f.npy", np.random.default_rng(0).normal(size=(24, 12)).astype(np.float32))
    res = run_cli("vocoder", "infer", "--checkpoint", tmp_path / "knn" / "g_1",
                  "--input-mels", feats, "--output-dir", tmp_path / "o")
    assert res.returncode == 0, res.stderr
    assert sf.info(str(tmp_path / "o" / "f.wav")).frames == 12 * 64
