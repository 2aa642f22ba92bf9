"""The families' config readers: a config file that is too big or nested too deeply is one
ConfigError naming it, not a RecursionError (detection beside a checkpoint never fails)."""

from __future__ import annotations

import pytest

from vocoder.config import ConfigError
from vocoder.families.configfiles import json_beside, read_json, read_yaml


def test_deep_or_huge_config_files_are_refused_by_name(tmp_path):
    (tmp_path / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match=r"config\.json: JSON nested too deeply"):
        read_json(tmp_path / "config.json")
    assert json_beside(tmp_path / "g_00000001") is None
    (tmp_path / "hyperparams.yaml").write_text("a: " + "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match=r"hyperparams\.yaml: not a YAML config"):
        read_yaml(tmp_path / "hyperparams.yaml")
    (tmp_path / "big.yml").write_text("# " + "x" * (1 << 20) + "\nsampling_rate: 22050\n")
    with pytest.raises(ConfigError, match=r"big\.yml: config file of 1,048,\d+ bytes; a config "
                                          r"is at most 1,048,576 bytes"):
        read_yaml(tmp_path / "big.yml")
    (tmp_path / "ok.yml").write_text("sampling_rate: 22050\n")
    assert read_yaml(tmp_path / "ok.yml") == {"sampling_rate": 22050}
