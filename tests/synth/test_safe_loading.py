"""Matching sets, feature files and extractor weights are read through vocoder.safeload, with
the checkpoints' checks: refused before they inflate or run code."""

from __future__ import annotations

import pytest
import torch

from tests.hostile import RunsCode, zip_bomb


def test_matching_sets_feature_files_and_weights_are_read_safely(tmp_path):
    from synth.featurefiles import FeatureFileError, read_features
    from synth.features import FeatureError, load_state_dict_file
    from synth.knnvc import MatchingSet, MatchingSetError

    bomb = zip_bomb(tmp_path / "bomb.pt", inflated=8 << 20)
    evil = tmp_path / "evil.pt"
    torch.save({"x": RunsCode(tmp_path / "pwned")}, evil)
    for load, error in ((MatchingSet.load, MatchingSetError), (read_features, FeatureFileError),
                        (load_state_dict_file, FeatureError)):
        with pytest.raises(error, match="made to inflate"):
            load(bomb)
        with pytest.raises(error, match=r"refused: loading it would run code \(posix\.system\)"):
            load(evil)
    assert not (tmp_path / "pwned").exists()
