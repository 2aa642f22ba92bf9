"""A run's state on disk: checkpoint pairs, pruning, resuming (ours and published do_ files)."""

import pytest
import torch

from tests.vocoder.trainkit import (OldMPD, OldMSD, old_optimizer_state, tiny_config,
                                    train_options, write_config)
from vocoder.checkpoint import load_generator, save_generator
from vocoder.config import ConfigError, HiFiGANConfig
from vocoder.discriminators import published_state_dict
from vocoder.generator import HiFiGANGenerator
from vocoder.train import Trainer, list_checkpoints, train
from vocoder.train.state import (config_differences, plan_resume, prune_checkpoints,
                                 remove_stale_temp_files)

pytestmark = pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated")


def _touch(directory, *names):
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_bytes(b"x")


def test_complete_pairs_pruning_and_stale_temp_files(tmp_path):
    run = tmp_path / "run"
    _touch(run, "g_00000002", "do_00000002", "g_00000004", "do_00000004", "g_00000006",
           "do_00000006", "g_00000008", "g_123", ".do_00000008.abc.tmp", ".config.json.x.tmp",
           "notes.txt")
    assert list_checkpoints(run) == [2, 4, 6]  # g_00000008 has no do_ yet; g_123 is no step
    assert list_checkpoints(tmp_path / "nowhere") == []
    assert prune_checkpoints(run, 0) == []
    assert prune_checkpoints(run, 2) == [2]
    assert list_checkpoints(run) == [4, 6]
    remove_stale_temp_files(run)  # checkpoints' and config.json's temp files (a kill's)
    assert sorted(p.name for p in run.iterdir()) == [
        "do_00000004", "do_00000006", "g_00000004", "g_00000006",
        "g_00000008", "g_123", "notes.txt"]


def test_config_differences_ignore_settings_that_do_not_change_numbers():
    a = HiFiGANConfig.from_dict(tiny_config())
    b = HiFiGANConfig.from_dict(tiny_config(num_workers=8, learning_rate=1e-3))
    assert config_differences(a, b) == ["'learning_rate': run has 0.0002, given 0.001"]


def test_keep_last_and_nothing_to_do(data, tmp_path, capsys):
    _, wavs, cfg = data
    run = tmp_path / "run"
    train(train_options(cfg, run, wavs, max_steps=3, checkpoint_interval=1, keep_last=2))
    assert list_checkpoints(run) == [2, 3]
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(("g_", "do_"))) == \
        ["do_00000002", "do_00000003", "g_00000002", "g_00000003"]
    capsys.readouterr()
    pos = train(train_options(cfg, run, wavs, max_steps=3, keep_last=2))
    assert pos.steps == 3
    assert "already at step 3 (max_steps 3); nothing to do" in capsys.readouterr().err


def test_a_config_that_contradicts_the_run_is_refused(data, tmp_path):
    _, wavs, cfg = data
    run = tmp_path / "run"
    train(train_options(cfg, run, wavs, max_steps=2))
    other = HiFiGANConfig.from_dict(tiny_config(upsample_initial_channel=64))
    with pytest.raises(ConfigError, match=r"other\.json contradicts the run .*resuming "
                                          r"g_00000002.*'upsample_initial_channel': run has 32, "
                                          "given 64") as err:
        plan_resume(run, 2, other, "other.json")
    assert err.value.key == "init_from" and "--" not in str(err.value)
    # checkpoints without a config.json: the tensor shapes are checked
    (run / "config.json").unlink()
    other_path = write_config(tmp_path / "other.json", tiny_config(upsample_initial_channel=64))
    with pytest.raises(Exception, match=r"g_00000002: parameter 'conv_pre.*shape"):
        Trainer(train_options(other_path, run, wavs))


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
    trainer = Trainer(train_options(cfg_path, run, wavs, max_steps=9))
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


def test_init_from_copies_weights_and_starts_fresh(data, tmp_path, capsys):
    _, wavs, cfg = data
    first = Trainer(train_options(cfg, tmp_path / "a", wavs))
    first.save_checkpoint()
    second = Trainer(train_options(cfg, tmp_path / "b", wavs,
                                   init_from=str(tmp_path / "a" / "g_00000000")))
    assert second.position.steps == 0 and not second.optim_g.state
    for a, b in ((first.generator, second.generator), (first.discriminator, second.discriminator)):
        for k, v in a.state_dict().items():
            assert torch.equal(v, b.state_dict()[k]), k
    assert "discriminators from do_00000000" in capsys.readouterr().err
    # a run that has checkpoints resumes them and says that the initial checkpoint is ignored
    Trainer(train_options(cfg, tmp_path / "a", wavs, init_from=str(tmp_path / "b" / "x")))
    err = capsys.readouterr().err
    assert "resuming" in err and "is ignored" in err and "--init-from" not in err
