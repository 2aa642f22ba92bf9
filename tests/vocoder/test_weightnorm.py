"""The one weight-norm renamer: published (PyTorch 1.x) names <-> PyTorch 2 names."""

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from vocoder.weightnorm import current_weight_norm_names, legacy_weight_norm_names


def test_round_trip_through_the_published_names_loads_the_same_module():
    torch.manual_seed(0)
    model = nn.Sequential(weight_norm(nn.Conv1d(2, 3, 5)), nn.Conv1d(3, 1, 1))
    state = model.state_dict()
    legacy = legacy_weight_norm_names(state)
    assert list(legacy) == ["0.bias", "0.weight_g", "0.weight_v", "1.weight", "1.bias"]
    assert current_weight_norm_names(legacy) == state
    fresh = nn.Sequential(weight_norm(nn.Conv1d(2, 3, 5)), nn.Conv1d(3, 1, 1))
    fresh.load_state_dict(current_weight_norm_names(legacy, expected=fresh.state_dict().keys()))
    x = torch.randn(1, 2, 9)
    assert torch.equal(fresh(x), model(x))


def test_expected_keys_keep_other_weight_v_names():
    # spectral norm's PyTorch 1.x files also hold a "weight_v": only rename where the module
    # expects a weight-norm parameter
    state = {"a.weight_g": 1, "a.weight_v": 2, "b.weight_v": 3, "b.weight_u": 4, "weight_g": 5}
    expected = {"a.parametrizations.weight.original0", "a.parametrizations.weight.original1"}
    assert current_weight_norm_names(state, expected) == {
        "a.parametrizations.weight.original0": 1, "a.parametrizations.weight.original1": 2,
        "b.weight_v": 3, "b.weight_u": 4, "weight_g": 5}
