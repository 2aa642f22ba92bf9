import pytest
import torch

from tests.conftest import tiny_config
from tests.reference.published_hifigan import Generator as PublishedGenerator
from tests.reference.published_hifigan import attr_config
from vocoder.config import ConfigError, GeneratorConfig
from vocoder.generator import (HiFiGANGenerator, hifigan_generator, hifigan_knnvc, hifigan_v1,
                               hifigan_v2, hifigan_v3)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("factory, expected", [
    (hifigan_v1, 13_926_017), (hifigan_v2, 925_985), (hifigan_v3, 1_462_273)])
def test_preset_parameter_counts_match_published(factory, expected):
    assert _count(factory(weight_norm=False)) == expected
    assert _count(factory().remove_weight_norm()) == expected


@pytest.mark.parametrize("factory", [hifigan_v2, hifigan_v3])
def test_output_length_is_frames_times_upsampling(factory):
    g = factory().eval()
    with torch.inference_mode():
        y = g(torch.randn(2, 80, 7))
    assert y.shape == (2, 1, 7 * 256)
    assert y.abs().max() <= 1.0


def _perturb_weight_norm(g: HiFiGANGenerator) -> None:
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in g.named_parameters():
            if name.endswith("original0"):  # the magnitude g of weight norm
                p.mul_(torch.rand_like(p) + 0.5)


@pytest.mark.parametrize("resblock", ["1", "2"])
def test_folding_weight_norm_keeps_output(resblock):
    g = HiFiGANGenerator(tiny_config(resblock).generator).eval()
    _perturb_weight_norm(g)
    x = torch.randn(1, 20, 30)
    with torch.no_grad():
        before = g(x)
        g.remove_weight_norm()
        after = g(x)
    assert not g.has_weight_norm
    assert not any("parametrizations" in k for k in g.state_dict())
    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)


def test_same_output_as_published_model_with_same_weights():
    cfg = tiny_config("1")
    h = attr_config(cfg.to_dict())
    torch.manual_seed(0)
    ref = PublishedGenerator(h).eval()
    ref.remove_weight_norm()
    ours = HiFiGANGenerator(cfg.generator, weight_norm=False).eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 20, 25)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), atol=1e-6, rtol=0)


def test_custom_shape_and_feature_input():
    g = hifigan_generator(upsample_rates=[5, 4], upsample_kernel_sizes=[11, 8],
                          upsample_initial_channel=16, resblock="2", resblock_kernel_sizes=[3],
                          resblock_dilation_sizes=[[1, 3]], in_channels=8, input_dim=12)
    assert g.upsample_factor == 20
    assert "lin_pre.weight" in g.state_dict()
    with torch.no_grad():
        y = g(torch.randn(3, 12, 9))
    assert y.shape == (3, 1, 180)
    knn = hifigan_knnvc(weight_norm=False)
    assert knn.lin_pre.in_features == 1024 and knn.upsample_factor == 320


def test_wrong_input_shape_names_expected_shape():
    g = HiFiGANGenerator(tiny_config().generator)
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, 20, frames\), got \(1, 80, 10\)"):
        g(torch.randn(1, 80, 10))


def test_invalid_shape_config_is_refused():
    with pytest.raises(ConfigError, match="kernel 3 for rate 4"):
        HiFiGANGenerator(GeneratorConfig(upsample_rates=[4], upsample_kernel_sizes=[3]))
