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


def test_presets_are_one_table():
    from vocoder.config import PRESETS, preset_names

    assert preset_names() == ["v1", "v2", "v3", "knnvc"]
    assert preset_names("mel") == ["v1", "v2", "v3"] and preset_names("features") == ["knnvc"]
    for name, entry in PRESETS.items():
        cfg = preset(name)
        assert cfg.is_feature_vocoder == (entry.inputs == "features") and entry.description
        assert preset(name) is not cfg  # a fresh copy each time
    with pytest.raises(TypeError):
        PRESETS["mine"] = PRESETS["v1"]  # extended by editing the table, not at run time


def test_parameter_count_from_the_shape_alone():
    from vocoder.generator import HiFiGANGenerator

    assert preset("v1").generator.num_parameters() == 13_926_017
    assert preset("v3").generator.num_parameters() == 1_462_273
    knnvc = preset("knnvc").generator
    assert knnvc.num_parameters() == sum(
        p.numel() for p in HiFiGANGenerator(knnvc, weight_norm=False).parameters())


def test_a_mel_vocoder_hop_must_match_its_upsampling(tmp_path):
    from vocoder.config import load_audio_config, load_config

    data = json.loads(PUBLISHED_V1)
    data["hop_size"] = 200  # x256 upsampling would write audio of the wrong length
    path = tmp_path / "hop200.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"hop200\.json: 'upsample_rates' \[8, 8, 2, 2\] "
                                          r"multiply to 256, but 'hop_size' is 200"):
        load_config(path)
    # computing mels needs no generator: the audio settings alone are read and checked
    assert load_audio_config(path).hop_size == 200
    assert load_audio_config("knnvc").sampling_rate == 16000
    # a feature vocoder's hop only concerns its mel loss
    feature = dict(KNNVC, hop_size=256)
    assert HiFiGANConfig.from_dict(feature).generator.upsample_factor == 320


BAD_VALUES = [
    ("hubert_dim", [1024], "'hubert_dim' has the wrong type: expected int, got [1024]"),
    ("hubert_dim", None, "'hubert_dim' has the wrong type: expected int, got None"),
    ("resblock_dilation_sizes", [[1, 3, 0]] * 3, "dilations must be in 1..1024, got [1, 3, 0]"),
    ("upsample_initial_channel", 2 ** 40, "'upsample_initial_channel' must be at most 4096"),
    ("sampling_rate", 1e12, "'sampling_rate' must be in 4000..192000, got 1000000000000"),
    ("n_fft", 2 ** 31, "'n_fft' must be in 16..32768, got 2147483648"),
    ("resblock_kernel_sizes", [3, 6, 11], "'resblock_kernel_sizes' must be odd"),
    ("fmin", float("nan"), "'fmin' must be a finite number, got nan"),
    ("upsample_rates", [8, 8, 2, 0], "'upsample_rates' must all be at least 1, got [8, 8, 2, 0]"),
    ("num_mels", 100000, "'num_mels' must be in 1..512"),
]


@pytest.mark.parametrize("key, value, message", BAD_VALUES)
def test_values_out_of_bounds_are_refused_by_name(key, value, message):
    data = json.loads(PUBLISHED_V1)
    if key == "hubert_dim":
        data.update(hifi_dim=512)
    data[key] = value
    with pytest.raises(ConfigError) as err:
        HiFiGANConfig.from_dict(data, source="c.json")
    assert str(err.value).startswith("c.json: ") and message in str(err.value)
    assert err.value.key == key


def test_big_generators_are_refused_before_they_are_built():
    from vocoder.config import MAX_GENERATOR_PARAMETERS, GeneratorConfig

    big = GeneratorConfig(upsample_initial_channel=4096, resblock_kernel_sizes=[101, 101, 101])
    assert big.num_parameters() > MAX_GENERATOR_PARAMETERS
    with pytest.raises(ConfigError, match="parameters; at most 500,000,000"):
        big.validate()


def test_training_settings_are_checked_when_training():
    from vocoder.config import TrainConfig

    cfg = HiFiGANConfig.from_dict(dict(json.loads(PUBLISHED_V1), batch_size=0))  # inference: fine
    with pytest.raises(ConfigError, match="'batch_size' must be at least 1, got 0") as err:
        cfg.train.validate("c.json")
    assert err.value.key == "batch_size"
    for key, value in (("seed", -1), ("adam_b2", 1.0), ("learning_rate", 0.0),
                       ("segment_size", 2 ** 30), ("num_workers", -2)):
        with pytest.raises(ConfigError, match=f"'{key}' must"):
            TrainConfig(**{key: value}).validate()


def test_files_that_are_not_configs(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match=r"deep\.json: JSON nested too deeply"):
        HiFiGANConfig.load(deep)
    big = tmp_path / "big.json"
    big.write_text('{"x": "' + "a" * (1 << 20) + '"}')
    with pytest.raises(ConfigError, match=r"big\.json: config file of 1,048,585 bytes; a config is at most 1,048,576"):
        HiFiGANConfig.load(big)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match=r"binary\.json: not a text \(UTF-8 JSON\) file"):
        HiFiGANConfig.load(binary)
    with pytest.raises(ConfigError, match=r": not a regular file"):
        HiFiGANConfig.load(tmp_path)
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"list\.json: expected a JSON object, got list"):
        HiFiGANConfig.load(listing)
