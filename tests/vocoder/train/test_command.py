"""``vocoder train`` as a user runs it: help, one-line errors with the option to change."""

import pytest

from tests.vocoder.trainkit import run_vocoder, tiny_config, train_options, write_config
from vocoder.cli import main
from vocoder.config import ConfigError
from vocoder.train import list_checkpoints, train

pytestmark = pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated")


def _error(capsys, *argv) -> tuple[int, list[str]]:
    code = main(["train", *map(str, argv)])
    return code, capsys.readouterr().err.strip().splitlines()


def test_help_and_usage_errors_in_a_fresh_process(data, tmp_path):
    _, wavs, cfg = data
    r = run_vocoder("train", "--config", cfg, "--output-dir", tmp_path / "r", "--train-wavs",
                    tmp_path / "nope", "--num-workers", 0, timeout=120)
    assert r.returncode == 2 and "training audio directory not found" in r.stderr
    assert "Traceback" not in r.stderr
    r = run_vocoder("train", "--help", timeout=120)
    assert r.returncode == 0 and "--input-mels-dir" in r.stdout and "torchrun" in r.stdout


@pytest.mark.parametrize("argv, expected", [
    (["--max-steps", 0], "vocoder: error: 'max_steps' must be positive, got 0 (see --max-steps)"),
    (["--keep-last", -1], "vocoder: error: 'keep_last' must be >= 0, got -1 (see --keep-last)"),
    (["--log-interval", 0], "'log_interval' must be positive, got 0 (see --log-interval)"),
    (["--batch-size", 0], "'batch_size' must be positive, got 0 (see --batch-size)"),
])
def test_bad_options_name_their_flag(data, tmp_path, capsys, argv, expected):
    _, wavs, cfg = data
    code, lines = _error(capsys, "--config", cfg, "--output-dir", tmp_path / "r",
                         "--train-wavs", wavs, *argv)
    assert code == 2 and len(lines) == 1 and lines[0].endswith(expected), lines
    assert not (tmp_path / "r").exists()


def test_no_training_data_and_feature_configs_get_hints(data, tmp_path, capsys):
    _, wavs, cfg = data
    code, lines = _error(capsys, "--config", cfg, "--output-dir", tmp_path / "r")
    assert code == 2 and lines == ["vocoder: error: no training data: give a directory of audio "
                                   "or a file list (give --train-wavs DIR or --train-list FILE)"]
    feature_cfg = write_config(tmp_path / "f.json", tiny_config(
        upsample_rates=[4, 4], hubert_dim=12, hifi_dim=16))
    code, lines = _error(capsys, "--config", feature_cfg, "--output-dir", tmp_path / "r",
                         "--train-wavs", wavs)
    assert code == 2 and len(lines) == 1
    assert lines[0].endswith("(frames, dim) (feature files go in --input-features-dir DIR)")


def test_bad_training_settings_in_the_config(data, tmp_path, capsys):
    _, wavs, _ = data
    bad = write_config(tmp_path / "bad.json", tiny_config(batch_size=0))
    code, lines = _error(capsys, "--config", bad, "--output-dir", tmp_path / "r",
                         "--train-wavs", wavs)
    assert code == 2
    assert lines == [f"vocoder: error: {bad}: 'batch_size' must be at least 1, got 0 "
                     "(see --batch-size)"]
    bad = write_config(tmp_path / "seg.json", tiny_config(segment_size=500))
    code, lines = _error(capsys, "--config", bad, "--output-dir", tmp_path / "r",
                         "--train-wavs", wavs)
    assert code == 2 and len(lines) == 1
    assert "'segment_size' 500 must be a positive multiple of the 16 samples" in lines[0]
    with pytest.raises(ConfigError, match="'lr_decay' must be in"):
        train(train_options(write_config(tmp_path / "d.json", tiny_config(lr_decay=1.5)),
                            tmp_path / "r", wavs))


def test_config_contradicting_the_run_stops_before_any_step(data, tmp_path, capsys):
    base, wavs, cfg = data
    run = tmp_path / "run"
    train(train_options(cfg, run, wavs, max_steps=2))
    capsys.readouterr()
    other = write_config(tmp_path / "other.json", tiny_config(upsample_initial_channel=64))
    code, lines = _error(capsys, "--config", other, "--output-dir", run, "--train-wavs", wavs,
                         "--max-steps", 4, "--num-workers", 0)
    assert code == 2
    assert len(lines) == 1 and "contradicts the run" in lines[0]
    assert "'upsample_initial_channel': run has 32, given 64" in lines[0]
    assert lines[0].endswith("(to change settings, start a new --output-dir with --init-from CKPT)")
    assert list_checkpoints(run) == [2]
