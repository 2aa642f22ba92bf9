import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from trainkit import (OldMPD, OldMSD, old_optimizer_state, speechlike, tiny_config,  # noqa: E402
                      write_config, write_wavs)

from vocoder.checkpoint import load_generator, read_checkpoint, save_generator  # noqa: E402
from vocoder.config import ConfigError, HiFiGANConfig  # noqa: E402
from vocoder.discriminators import HiFiGANDiscriminator, published_state_dict  # noqa: E402
from vocoder.generator import HiFiGANGenerator  # noqa: E402
from vocoder.mel import MelSpectrogram  # noqa: E402
from vocoder.train import (TrainOptions, Trainer, TrainStep, build_optimizers,  # noqa: E402
                           list_checkpoints, train)

pytestmark = pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp("train")
    wavs = base / "wavs"
    write_wavs(wavs, 6)
    cfg = write_config(base / "config.json", tiny_config())
    return base, wavs, cfg


def options(cfg, run, wavs, **kw):
    base = dict(config=str(cfg), output_dir=run, train_wavs=str(wavs), max_steps=4,
                checkpoint_interval=2, validation_interval=1000, log_interval=1, num_workers=0,
                progress=False, keep_last=0)
    base.update(kw)
    return TrainOptions(**base)


def cli(*args, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "vocoder", *map(str, args)], env=env,
                          capture_output=True, text=True, **kw)


def state_of(run, steps):
    g = read_checkpoint(run / f"g_{steps:08d}")["generator"]
    do = read_checkpoint(run / f"do_{steps:08d}")
    return g, do


def assert_same_state(a, b):
    (ga, da), (gb, db) = a, b
    assert ga.keys() == gb.keys()
    for k in ga:
        assert torch.equal(ga[k], gb[k]), k
    for part in ("mpd", "msd"):
        for k in da[part]:
            assert torch.equal(da[part][k], db[part][k]), (part, k)
    for opt in ("optim_g", "optim_d"):
        for i, st in da[opt]["state"].items():
            for k, v in st.items():
                assert torch.equal(v, db[opt]["state"][i][k]), (opt, i, k)
    assert (da["steps"], da["epoch"]) == (db["steps"], db["epoch"])
    assert da["hifisynth"]["batch_in_epoch"] == db["hifisynth"]["batch_in_epoch"]
    assert da["hifisynth"]["scheduler_g"] == db["hifisynth"]["scheduler_g"]


def test_loss_goes_down_on_a_fixed_batch(data):
    _, _, cfg_path = data
    cfg = HiFiGANConfig.load(cfg_path)
    torch.manual_seed(0)
    g, d = HiFiGANGenerator(cfg.generator), HiFiGANDiscriminator.from_config(cfg)
    og, od = build_optimizers(g, d, cfg)
    step = TrainStep(g, d, og, od, cfg, torch.device("cpu"))
    audio = torch.from_numpy(np.stack([speechlike(i, 0.064, 8000) for i in range(2)]))
    losses = [step(torch.empty(0), audio) for _ in range(8)]
    mel = [l.mel.item() for l in losses]
    disc = [l.disc.item() for l in losses]
    assert all(np.isfinite(mel)) and all(np.isfinite(disc))
    assert mel[-1] < 0.9 * mel[0], mel
    assert disc[-1] < disc[0], disc


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_steps_are_finite(data, precision):
    _, _, cfg_path = data
    cfg = HiFiGANConfig.load(cfg_path)
    torch.manual_seed(0)
    g, d = HiFiGANGenerator(cfg.generator), HiFiGANDiscriminator.from_config(cfg)
    og, od = build_optimizers(g, d, cfg)
    step = TrainStep(g, d, og, od, cfg, torch.device("cpu"), precision=precision)
    audio = torch.from_numpy(np.stack([speechlike(i, 0.064, 8000) for i in range(2)]))
    before = g.conv_post.parametrizations.weight.original1.detach().clone()
    for _ in range(2):
        out = step(torch.empty(0), audio).as_floats()
        assert all(np.isfinite(v) for v in out.values()), out
    assert step.scaler.is_enabled() == (precision == "fp16")
    if precision == "bf16":
        assert not torch.equal(before, g.conv_post.parametrizations.weight.original1)


def test_killed_run_resumes_to_the_uninterrupted_state(data, tmp_path):
    base, wavs, cfg = data
    whole = tmp_path / "whole"
    train(options(cfg, whole, wavs, max_steps=4, valid_wavs=str(wavs), validation_interval=2))
    assert list_checkpoints(whole) == [2, 4]
    assert (whole / "config.json").is_file() and any((whole / "logs").iterdir())

    run = tmp_path / "killed"
    args = ["train", "--config", cfg, "--output-dir", run, "--train-wavs", wavs,
            "--max-steps", 4, "--checkpoint-interval", 2, "--num-workers", 0, "--no-progress",
            "--keep-last", 0, "--log-interval", 1]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
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
    r = cli(*args, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stderr and "g_0000000" in r.stderr
    assert_same_state(state_of(whole, 4), state_of(run, 4))
    assert not list(run.glob(".*.tmp"))


def test_keep_last_and_nothing_to_do(data, tmp_path):
    _, wavs, cfg = data
    run = tmp_path / "run"
    train(options(cfg, run, wavs, max_steps=3, checkpoint_interval=1, keep_last=2))
    assert list_checkpoints(run) == [2, 3]
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(("g_", "do_"))) == \
        ["do_00000002", "do_00000003", "g_00000002", "g_00000003"]
    pos = train(options(cfg, run, wavs, max_steps=3, keep_last=2))
    assert pos.steps == 3


def test_config_contradicting_the_run_stops_before_any_step(data, tmp_path):
    base, wavs, cfg = data
    run = tmp_path / "run"
    train(options(cfg, run, wavs, max_steps=2))
    other = write_config(tmp_path / "other.json", tiny_config(upsample_initial_channel=64))
    r = cli("train", "--config", other, "--output-dir", run, "--train-wavs", wavs,
            "--max-steps", 4, "--num-workers", 0, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "contradicts the run" in lines[0]
    assert "'upsample_initial_channel': run has 32, given 64" in lines[0]
    assert list_checkpoints(run) == [2]
    # checkpoints without a config.json: the tensor shapes are checked
    (run / "config.json").unlink()
    with pytest.raises(Exception, match=r"g_00000002: parameter 'conv_pre.*shape"):
        Trainer(options(other, run, wavs))


def test_published_do_file_resumes(data, tmp_path):
    base, wavs, cfg_path = data
    cfg = HiFiGANConfig.load(cfg_path)
    run = tmp_path / "published"
    torch.manual_seed(5)
    gen = HiFiGANGenerator(cfg.generator)
    mpd, msd = OldMPD(w=8), OldMSD(w=8)
    x = torch.randn(1, 1, 512)
    for d in msd.discriminators:  # move the spectral-norm vectors off their init
        d(x)
    optim_g = torch.optim.AdamW(gen.parameters(), 1e-4, betas=(0.8, 0.99))
    optim_d = torch.optim.AdamW(list(msd.parameters()) + list(mpd.parameters()), 1e-4,
                                betas=(0.8, 0.99))
    for opt, params in ((optim_g, gen.parameters()), (optim_d, optim_d.param_groups[0]["params"])):
        for p in params:
            p.grad = torch.randn_like(p) * 1e-3
        opt.step()
    save_generator(run / "g_00000007", gen)
    torch.save({"mpd": mpd.state_dict(), "msd": msd.state_dict(),
                "optim_g": old_optimizer_state(optim_g), "optim_d": old_optimizer_state(optim_d),
                "steps": 7, "epoch": 3}, run / "do_00000007")
    trainer = Trainer(options(cfg_path, run, wavs, max_steps=9))
    assert (trainer.position.steps, trainer.position.epoch, trainer.position.batch_in_epoch) == (8, 3, 0)
    assert trainer.optim_g.param_groups[0]["lr"] == pytest.approx(1e-4)
    ours = published_state_dict(trainer.discriminator.msd)
    for k, v in msd.state_dict().items():
        assert torch.equal(ours[k], v), k
    first = trainer.optim_d.param_groups[0]["params"][1]
    assert torch.equal(trainer.optim_d.state[first]["exp_avg"], optim_d.state_dict()["state"][1]["exp_avg"])
    assert int(trainer.optim_d.state[first]["step"]) == 1
    pos = trainer.train()
    assert pos.steps == 9 and list_checkpoints(run) == [7, 9]
    g9, _ = load_generator(run / "g_00000009", cfg, weight_norm=True)
    assert not torch.equal(g9.state_dict()["conv_post.bias"], gen.state_dict()["conv_post.bias"])


def test_fine_tuning_with_npy_mels(data, tmp_path, capsys):
    base, wavs, cfg_path = data
    cfg = HiFiGANConfig.load(cfg_path)
    mels = tmp_path / "mels"
    mels.mkdir()
    mel_fn = MelSpectrogram(cfg.audio)
    wav_paths = sorted(wavs.glob("*.wav"))
    from vocoder.audio import load_audio
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
    pos = train(options(cfg_path, run, wavs, max_steps=2, input_mels_dir=str(mels),
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
    pos = train(options(cfg, run, wavs, max_steps=2, input_features_dir=str(feats)))
    err = capsys.readouterr().err
    assert pos.steps == 2
    assert "expected (frames, 12) or (1, frames, 12) (it looks transposed)" in err
    g, loaded_cfg = load_generator(run / "g_00000002")
    assert loaded_cfg.is_feature_vocoder and g.lin_pre is not None
    assert g(torch.randn(1, dim, 10)).shape == (1, 1, 10 * hop)
    # a feature config without feature files is refused with a clear message
    with pytest.raises(ConfigError, match="give --input-features-dir"):
        Trainer(options(cfg, tmp_path / "x", wavs))


def test_bad_files_are_reported_and_skipped(data, tmp_path, capsys):
    base, wavs, cfg = data
    mixed = tmp_path / "mixed"
    write_wavs(mixed, 4)
    (mixed / "broken.wav").write_bytes(b"RIFF not really a wav")
    import soundfile as sf
    sf.write(mixed / "short.wav", speechlike(9, 0.02, 8000), 8000)  # 160 samples < segment
    listing = tmp_path / "train.txt"
    listing.write_text("utt00|first\nutt01|second\nbroken|x\nshort|y\nmissing|z\n")
    pos = train(options(cfg, tmp_path / "run", None, train_wavs=None, train_list=str(listing),
                        wavs_dir=str(mixed), max_steps=1, checkpoint_interval=1))
    err = capsys.readouterr().err
    assert pos.steps == 1
    assert f"{mixed / 'broken.wav'}: cannot read audio" in err
    assert f"{mixed / 'missing.wav'}: audio file not found" in err
    assert "3 of 5 training files usable; 2 skipped (reasons above); 1 shorter than a segment " \
           "(512 samples), zero-padded" in err


def test_cli_usage_errors(data, tmp_path):
    _, wavs, cfg = data
    r = cli("train", "--config", cfg, "--output-dir", tmp_path / "r", "--train-wavs",
            tmp_path / "nope", "--num-workers", 0, timeout=120)
    assert r.returncode == 2 and "training audio directory not found" in r.stderr
    bad = write_config(tmp_path / "bad.json", tiny_config(segment_size=500))
    r = cli("train", "--config", bad, "--output-dir", tmp_path / "r", "--train-wavs", wavs,
            timeout=120)
    assert r.returncode == 2
    assert "'segment_size' 500 must be a positive multiple of the 16 samples" in r.stderr
    r = cli("train", "--help", timeout=120)
    assert r.returncode == 0 and "--input-mels-dir" in r.stdout and "torchrun" in r.stdout


@pytest.mark.slow
def test_torchrun_two_processes_gloo(data, tmp_path):
    base, wavs, cfg = data
    run = tmp_path / "ddp"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    args = ["--nproc_per_node", "2", "--master_port", 29500 + os.getpid() % 1000, "-m",
            "vocoder", "train", "--config", cfg, "--output-dir", run, "--train-wavs", wavs,
            "--max-steps", 2, "--checkpoint-interval", 2, "--batch-size", 4, "--num-workers", 0,
            "--no-progress", "--device", "cpu"]
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", *map(str, args)],
        env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert list_checkpoints(run) == [2]
    assert r.stderr.count("saved g_00000002") == 1  # only rank 0 writes
    assert r.stderr.count("stopped at step 2") == 1
    # two ranks x 2 items see the same 4 items per step as one process with batch 4
    single = tmp_path / "single"
    train(options(cfg, single, wavs, max_steps=2, batch_size=4, log_interval=1))
    (ga, da), (gb, db) = state_of(run, 2), state_of(single, 2)
    assert da["hifisynth"]["world_size"] == 2
    for k in ga:
        torch.testing.assert_close(ga[k], gb[k], rtol=1e-4, atol=1e-6)
    for k in da["mpd"]:
        torch.testing.assert_close(da["mpd"][k], db["mpd"][k], rtol=1e-4, atol=1e-6)


def test_init_from_copies_weights_and_starts_fresh(data, tmp_path):
    _, wavs, cfg = data
    first = Trainer(options(cfg, tmp_path / "a", wavs))
    first.save_checkpoint()
    second = Trainer(options(cfg, tmp_path / "b", wavs, init_from=str(tmp_path / "a" / "g_00000000")))
    assert second.position.steps == 0 and not second.optim_g.state
    for a, b in ((first.generator, second.generator), (first.discriminator, second.discriminator)):
        for k, v in a.state_dict().items():
            assert torch.equal(v, b.state_dict()[k]), k
