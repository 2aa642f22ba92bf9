import json

import pytest

from vocoder.config import ConfigError, HiFiGANConfig, preset

PUBLISHED_V1 = """{
    "resblock": "1", "num_gpus": 0, "batch_size": 16, "learning_rate": 0.0002,
    "adam_b1": 0.8, "adam_b2": 0.99, "lr_decay": 0.999, "seed": 1234,
    "upsample_rates": [8,8,2,2], "upsample_kernel_sizes": [16,16,4,4],
    "upsample_initial_channel": 512, "resblock_kernel_sizes": [3,7,11],
    "resblock_dilation_sizes": [[1,3,5], [1,3,5], [1,3,5]],
    "segment_size": 8192, "num_mels": 80, "num_freq": 1025, "n_fft": 1024,
    "hop_size": 256, "win_size": 1024, "sampling_rate": 22050,
    "fmin": 0, "fmax": 8000, "fmax_for_loss": null, "num_workers": 4,
    "dist_config": {"dist_backend": "nccl", "dist_url": "tcp://localhost:54321", "world_size": 1}
}"""

KNNVC = json.loads(PUBLISHED_V1)
KNNVC.update({"upsample_rates": [10, 8, 2, 2], "upsample_kernel_sizes": [20, 16, 4, 4],
              "hubert_dim": 1024, "hifi_dim": 512, "segment_size": 7040, "hop_size": 320,
              "sampling_rate": 16000})


def test_reads_published_v1_config_file(tmp_path):
    path = tmp_path / "config_v1.json"
    path.write_text(PUBLISHED_V1)
    cfg = HiFiGANConfig.load(path)
    assert cfg.generator == preset("v1").generator
    assert cfg.audio.sampling_rate == 22050 and cfg.audio.fmax_for_loss is None
    assert cfg.train.adam_b1 == 0.8 and cfg.train.lr_decay == 0.999
    assert cfg.generator.upsample_factor == 256 == cfg.audio.hop_size
    assert not cfg.is_feature_vocoder and cfg.input_channels == 80


def test_round_trip_keeps_every_published_key(tmp_path):
    original = json.loads(PUBLISHED_V1)
    cfg = HiFiGANConfig.from_dict(original)
    out = tmp_path / "out" / "config.json"
    cfg.save(out)
    written = json.loads(out.read_text())
    assert written == original
    assert HiFiGANConfig.load(out) == cfg


def test_knnvc_config_is_a_feature_vocoder():
    cfg = HiFiGANConfig.from_dict(KNNVC)
    assert cfg.is_feature_vocoder
    assert (cfg.generator.input_dim, cfg.generator.in_channels) == (1024, 512)
    assert cfg.generator.upsample_factor == 320 and cfg.audio.sampling_rate == 16000
    assert cfg.to_dict()["hubert_dim"] == 1024 and cfg.to_dict()["hifi_dim"] == 512
    assert cfg.generator == preset("knnvc").generator


def test_presets_v2_v3():
    assert preset("V2").generator.upsample_initial_channel == 128
    v3 = preset("v3").generator
    assert (v3.resblock, v3.upsample_rates, v3.resblock_dilation_sizes) == (
        "2", [8, 8, 4], [[1, 2], [2, 6], [3, 12]])
    with pytest.raises(ConfigError, match="unknown preset 'v9'"):
        preset("v9")


def test_wrong_type_names_file_and_key(tmp_path):
    data = json.loads(PUBLISHED_V1)
    data["hop_size"] = "256"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"bad\.json: 'hop_size' has the wrong type"):
        HiFiGANConfig.load(path)


def test_inconsistent_shape_is_explained():
    data = json.loads(PUBLISHED_V1)
    data["upsample_kernel_sizes"] = [16, 16, 4]
    with pytest.raises(ConfigError, match="'upsample_kernel_sizes' must have one entry per upsample rate"):
        HiFiGANConfig.from_dict(data, source="c.json")
    data = json.loads(PUBLISHED_V1)
    data["hubert_dim"] = 1024
    with pytest.raises(ConfigError, match="needs both 'hubert_dim' and 'hifi_dim'"):
        HiFiGANConfig.from_dict(data)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        HiFiGANConfig.load(tmp_path / "nope.json")
    bad = tmp_path / "broken.json"
    bad.write_text('{"resblock": "1",')
    with pytest.raises(ConfigError, match=r"broken\.json: not valid JSON .* line 1"):
        HiFiGANConfig.load(bad)
