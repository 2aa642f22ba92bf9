"""The training loop end to end, in process and as a killed-and-resumed command."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from tests.vocoder.trainkit import (REPO, assert_same_state, run_vocoder, speechlike, state_of,
                                    tiny_config, train_options, write_config, write_wavs)
from vocoder.audio import load_audio
from vocoder.checkpoint import load_generator
from vocoder.config import ConfigError, HiFiGANConfig
from vocoder.mel import MelSpectrogram
from vocoder.train import Trainer, list_checkpoints, train

pytestmark = pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated")


def test_killed_run_resumes_to_the_uninterrupted_state(data, tmp_path):
    base, wavs, cfg = data
    whole = tmp_path / "whole"
    train(train_options(cfg, whole, wavs, max_steps=4, valid_wavs=str(wavs), validation_interval=2))
    assert list_checkpoints(whole) == [2, 4]
    assert (whole / "config.json").is_file() and any((whole / "logs").iterdir())

    run = tmp_path / "killed"
    args = ["train", "--config", cfg, "--output-dir", run, "--train-wavs", wavs,
            "--max-steps", 4, "--checkpoint-interval", 2, "--num-workers", 0, "--no-progress",
            "--keep-last", 0, "--log-interval", 1]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "vocoder", *map(str, args)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (run / "g_00000002").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (run / "g_00000002").exists()
    assert not (run / "g_00000004").exists()
    # the same command again resumes (no flag) and finishes
    r = run_vocoder(*args)
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stderr and "g_0000000" in r.stderr
    assert_same_state(state_of(whole, 4), state_of(run, 4))
    assert not list(run.glob(".*.tmp"))


def test_the_trainer_changes_no_process_wide_setting(data, tmp_path, monkeypatch):
    # torchrun's variables are the entry point's business: the library trains one process
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr("vocoder.inference.tune_cpu_allocator",
                        lambda: pytest.fail("the trainer tuned the allocator"))
    benchmark = torch.backends.cudnn.benchmark
    _, wavs, cfg = data
    trainer = Trainer(train_options(cfg, tmp_path / "run", wavs, max_steps=1))
    assert (trainer.dist.rank, trainer.dist.world_size) == (0, 1)
    assert trainer.train().steps == 1 and list_checkpoints(tmp_path / "run") == [1]
    assert torch.backends.cudnn.benchmark == benchmark


def test_fine_tuning_with_npy_mels(data, tmp_path, capsys):
    base, wavs, cfg_path = data
    cfg = HiFiGANConfig.load(cfg_path)
    mels = tmp_path / "mels"
    mels.mkdir()
    mel_fn = MelSpectrogram(cfg.audio)
    wav_paths = sorted(wavs.glob("*.wav"))
    for i, p in enumerate(wav_paths):
        wav, _ = load_audio(p)
        m = mel_fn(torch.from_numpy(wav)).numpy()
        if i == 0:
            m = m[:, :-2]  # a TTS model predicted 2 frames fewer: tolerated
        elif i == 1:
            m = np.concatenate([m, m[:, :10]], axis=1)  # 10 frames too many: skipped
        elif i == 2:
            m = m[None]  # (1, num_mels, frames) works too
        np.save(mels / f"{p.stem}.npy", m)
    (mels / f"{wav_paths[3].stem}.npy").unlink()  # missing: skipped
    run = tmp_path / "run"
    pos = train(train_options(cfg_path, run, wavs, max_steps=2, input_mels_dir=str(mels),
                              valid_wavs=str(wavs), validation_interval=2))
    err = capsys.readouterr().err
    assert pos.steps == 2 and list_checkpoints(run) == [2]
    assert f"{mels / wav_paths[1].stem}.npy: 260 frames but the audio" in err
    assert f"no mel file {wav_paths[3].stem}.npy in {mels}" in err
    assert "4 of 6 training files usable; 2 skipped" in err
    assert "4 of 6 validation files usable; 2 skipped" in err
    # input mels are used as given: a generator trained on them loads for inference
    g, _ = load_generator(run / "g_00000002")
    assert g(torch.from_numpy(np.load(mels / f"{wav_paths[0].stem}.npy"))[None]).shape[-1] == 248 * 16


def test_feature_vocoder_training_at_another_rate(tmp_path, capsys):
    # 11.025 kHz audio, 21 samples per feature frame (upsampling 7 x 3), 12-dim features
    sr, hop, dim = 11025, 21, 12
    wavs = tmp_path / "wavs"
    paths = write_wavs(wavs, 5, seconds=0.4, sr=sr)
    feats = tmp_path / "feats"
    feats.mkdir()
    rng = np.random.default_rng(0)
    for i, p in enumerate(paths):
        n = int(0.4 * sr) // hop - (i % 2)  # feature extractors often give one frame fewer
        arr = rng.standard_normal((n, dim)).astype(np.float32)
        if i == 0:
            torch.save(torch.from_numpy(arr), feats / f"{p.stem}.pt")
        elif i == 4:
            np.save(feats / f"{p.stem}.npy", arr.T)  # (dim, frames): wrong layout, skipped
        else:
            np.save(feats / f"{p.stem}.npy", arr[None])
    cfg = write_config(tmp_path / "config.json", tiny_config(
        sampling_rate=sr, upsample_rates=[7, 3], upsample_kernel_sizes=[9, 5], hop_size=32,
        n_fft=128, win_size=128, fmax=None, segment_size=hop * 16, hubert_dim=dim, hifi_dim=16))
    run = tmp_path / "run"
    pos = train(train_options(cfg, run, wavs, max_steps=2, input_features_dir=str(feats)))
    err = capsys.readouterr().err
    assert pos.steps == 2
    assert "expected (frames, 12) or (1, frames, 12) (it looks transposed)" in err
    g, loaded_cfg = load_generator(run / "g_00000002")
    assert loaded_cfg.is_feature_vocoder and g.lin_pre is not None
    assert g(torch.randn(1, dim, 10)).shape == (1, 1, 10 * hop)
    # a feature config without feature files is refused with a clear, flag-free message
    with pytest.raises(ConfigError, match="training needs a directory of <id>.npy/.pt feature "
                                          "files") as err:
        Trainer(train_options(cfg, tmp_path / "x", wavs))
    assert err.value.key == "input_features_dir" and "--" not in str(err.value)


def test_bad_files_are_reported_and_skipped(data, tmp_path, capsys):
    base, wavs, cfg = data
    mixed = tmp_path / "mixed"
    write_wavs(mixed, 4)
    (mixed / "broken.wav").write_bytes(b"RIFF not really a wav")
    import soundfile as sf
    sf.write(mixed / "short.wav", speechlike(9, 0.02, 8000), 8000)  # 160 samples < segment
    listing = tmp_path / "train.txt"
    listing.write_text("utt00|first\nutt01|second\nbroken|x\nshort|y\nmissing|z\n")
    pos = train(train_options(cfg, tmp_path / "run", None, train_list=str(listing),
                              wavs_dir=str(mixed), max_steps=1, checkpoint_interval=1))
    err = capsys.readouterr().err
    assert pos.steps == 1
    assert f"{mixed / 'broken.wav'}: cannot read audio" in err
    assert f"{mixed / 'missing.wav'}: audio file not found" in err
    assert "3 of 5 training files usable; 2 skipped (reasons above); 1 shorter than a segment " \
           "(512 samples), zero-padded" in err
