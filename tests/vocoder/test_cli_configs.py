"""Bad configs given to the commands: one line naming the file and the key, exit status 2."""

import json

import numpy as np
import pytest
import torch

from tests.conftest import run_cli, speechlike, tiny_config, write_wav
from vocoder.checkpoint import save_generator
from vocoder.cli import main
from vocoder.generator import HiFiGANGenerator

from .test_config import PUBLISHED_V1


@pytest.fixture
def inputs(tmp_path):
    """A tiny checkpoint (its config beside it), a directory with one clip, one with a mel."""
    cfg = tiny_config()
    torch.manual_seed(0)
    save_generator(tmp_path / "ckpt" / "g_1", HiFiGANGenerator(cfg.generator), cfg)
    write_wav(tmp_path / "wavs" / "a.wav", speechlike(0.5, 22050), 22050)
    (tmp_path / "mels").mkdir()
    np.save(tmp_path / "mels" / "m.npy", np.zeros((80, 20), np.float32))
    return tmp_path


def _config(tmp_path, **changes) -> str:
    data = json.loads(PUBLISHED_V1)
    data.update(changes)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    return str(path)


def _run(capsys, *argv) -> tuple[int, list[str]]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("changes, message", [
    ({"hubert_dim": [1024], "hifi_dim": 512},
     "'hubert_dim' has the wrong type: expected int, got [1024]"),
    ({"hubert_dim": None, "hifi_dim": 512},
     "'hubert_dim' has the wrong type: expected int, got None"),
    ({"resblock_dilation_sizes": [[1, 3, 5], [1, 0, 5], [1, 3, 5]]},
     "'resblock_dilation_sizes' dilations must be in 1..1024, got [1, 0, 5]"),
    ({"upsample_initial_channel": 2 ** 40},
     "'upsample_initial_channel' must be at most 4096, got 1099511627776"),
    ({"hop_size": 200},
     "'upsample_rates' [8, 8, 2, 2] multiply to 256, but 'hop_size' is 200; a mel vocoder must "
     "output one hop of samples per mel frame"),
])
def test_infer_refuses_a_config_that_describes_no_usable_vocoder(inputs, capsys, changes,
                                                                  message):
    bad = _config(inputs, **changes)
    code, lines = _run(capsys, "infer", "--checkpoint", inputs / "ckpt" / "g_1", "--config", bad,
                       "--input-mels", inputs / "mels", "--output-dir", inputs / "out")
    assert code == 2 and lines == [f"vocoder: error: {bad}: {message}"]
    assert not (inputs / "out").exists()


@pytest.mark.parametrize("changes, message", [
    ({"sampling_rate": 1e12}, "'sampling_rate' must be in 4000..192000, got 1000000000000"),
    ({"n_fft": 2 ** 31}, "'n_fft' must be in 16..32768, got 2147483648"),
])
def test_mel_refuses_audio_settings_out_of_bounds(inputs, capsys, changes, message):
    bad = _config(inputs, **changes)
    code, lines = _run(capsys, "mel", "--config", bad, "--input-wavs", inputs / "wavs",
                       "--output-dir", inputs / "out")
    assert code == 2 and lines == [f"vocoder: error: {bad}: {message}"]


def test_mel_takes_a_config_whose_generator_it_does_not_need(inputs, capsys):
    # hop 200 with x256 upsampling cannot be vocoded, but its mels can be computed
    code, _ = _run(capsys, "mel", "--config", _config(inputs, hop_size=200), "--input-wavs",
                   inputs / "wavs", "--output-dir", inputs / "out")
    assert code == 0
    assert np.load(inputs / "out" / "a.npy").shape == (80, 11025 // 200)


def test_a_deeply_nested_config_is_one_line_in_a_fresh_process(inputs):
    deep = inputs / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    res = run_cli("vocoder", "mel", "--config", deep, "--input-wavs", inputs / "wavs",
                  "--output-dir", inputs / "out")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        f"vocoder: error: {deep}: JSON nested too deeply to be a config"]
