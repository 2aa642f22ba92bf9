import copy

import pytest
import torch

from tests.vocoder.trainkit import OldMPD, OldMSD
from vocoder.discriminators import (HiFiGANDiscriminator, MultiPeriodDiscriminator,
                                    MultiScaleDiscriminator, load_discriminator_state,
                                    published_state_dict)

pytestmark = pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated")


def shapes(sd):
    return {k: tuple(v.shape) for k, v in sd.items()}


def test_published_names_shapes_and_sizes():
    torch.manual_seed(0)
    d = HiFiGANDiscriminator()
    assert sum(p.numel() for p in d.mpd.parameters()) == 41_105_770
    assert sum(p.numel() for p in d.msd.parameters()) == 29_618_821
    old_mpd, old_msd = OldMPD(), OldMSD()
    assert shapes(published_state_dict(d.mpd)) == shapes(old_mpd.state_dict())
    assert shapes(published_state_dict(d.msd)) == shapes(old_msd.state_dict())
    names = list(published_state_dict(d.msd))
    assert "discriminators.0.convs.0.weight_orig" in names
    assert "discriminators.0.convs.0.weight_u" in names
    assert "discriminators.1.convs.6.weight_g" in names
    assert "discriminators.4.conv_post.weight_v" in published_state_dict(d.mpd)
    # parameter order (what optimizer states index by) matches PyTorch 1.x modules
    ours = [tuple(p.shape) for p in list(d.msd.parameters()) + list(d.mpd.parameters())]
    theirs = [tuple(p.shape) for p in list(old_msd.parameters()) + list(old_mpd.parameters())]
    assert ours == theirs


def _old_forward(old_mpd, old_msd, x):
    outs = [d(x) for d in old_mpd.discriminators]
    xs = [x, old_msd.meanpools[0](x)]
    xs.append(old_msd.meanpools[1](xs[1]))
    outs += [d(xi) for d, xi in zip(old_msd.discriminators, xs)]
    return outs


@pytest.mark.parametrize("training", [False, True])
def test_loads_pytorch1_state_and_computes_the_same(training):
    torch.manual_seed(1)
    old_mpd, old_msd = OldMPD(w=8), OldMSD(w=8)
    x = torch.randn(2, 1, 700)
    old_mpd.train(training), old_msd.train(training)
    _old_forward(old_mpd, old_msd, x)  # advance the old power iteration once
    d = HiFiGANDiscriminator(width_divisor=8)
    load_discriminator_state(d.mpd, old_mpd.state_dict(), "mpd")
    load_discriminator_state(d.msd, old_msd.state_dict(), "msd")
    d.train(training)
    ref = _old_forward(old_mpd, old_msd, x)
    subs = list(d.mpd.discriminators) + list(d.msd.discriminators)
    ins = [x] * 5 + d.msd.inputs(x)
    for (rs, rf), sub, xi in zip(ref, subs, ins):
        s, f = sub(xi)
        torch.testing.assert_close(s, rs, rtol=1e-5, atol=1e-6)
        for a, b in zip(f, rf):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # the spectral-norm vectors advanced exactly as PyTorch 1.x's did
    sd = published_state_dict(d.msd)
    for key in ("discriminators.0.convs.3.weight_u", "discriminators.0.convs.3.weight_v"):
        torch.testing.assert_close(sd[key], old_msd.state_dict()[key], rtol=1e-5, atol=1e-6)


def test_state_round_trip_and_shape_errors():
    torch.manual_seed(0)
    a, b = HiFiGANDiscriminator(width_divisor=8), HiFiGANDiscriminator(width_divisor=8)
    load_discriminator_state(b.mpd, published_state_dict(a.mpd), "x")
    load_discriminator_state(b.msd, a.msd.state_dict(), "x")  # current names work too
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    wide = HiFiGANDiscriminator(width_divisor=4)
    with pytest.raises(ValueError, match=r"do_x 'mpd': parameter 'discriminators.0.convs.0.bias' "
                                         r"has shape \(8,\), expected \(4,\)"):
        load_discriminator_state(a.mpd, published_state_dict(wide.mpd), "do_x 'mpd'")
    with pytest.raises(ValueError, match="missing"):
        load_discriminator_state(a.msd, {}, "do_x 'msd'")


def test_concatenated_pass_equals_two_passes():
    torch.manual_seed(2)
    d = HiFiGANDiscriminator(width_divisor=8).train()
    ref = copy.deepcopy(d)
    real, fake = torch.randn(2, 1, 640), torch.randn(2, 1, 640)
    out = d(real, fake)
    subs = list(ref.mpd.discriminators) + list(ref.msd.discriminators)
    r_in = [real] * 5 + ref.msd.inputs(real)
    f_in = [fake] * 5 + ref.msd.inputs(fake)
    for i, (sub, xr, xf) in enumerate(zip(subs, r_in, f_in)):
        sr, fr = sub(xr)  # published order: real, then fake
        sf, ff = sub(xf)
        torch.testing.assert_close(out.real_scores[i], sr, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(out.fake_scores[i], sf, rtol=1e-5, atol=1e-6)
        for a, b in zip(out.fake_fmaps[i] + out.real_fmaps[i], ff + fr):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # two power iterations per pass, like the published two calls
    for k, v in ref.msd.state_dict().items():
        torch.testing.assert_close(d.msd.state_dict()[k], v, rtol=1e-6, atol=1e-7)


def test_generator_pass_gives_the_published_gradients():
    from vocoder.losses import feature_loss, generator_adv_loss

    torch.manual_seed(3)
    d = HiFiGANDiscriminator(width_divisor=8).train()
    ref = copy.deepcopy(d)
    real = torch.randn(2, 1, 512)
    fake1 = torch.randn(2, 1, 512, requires_grad=True)
    fake2 = fake1.detach().clone().requires_grad_()
    for p in d.parameters():
        p.requires_grad_(False)
    out = d(real, fake1, real_grad=False)
    (generator_adv_loss(out.fake_scores) + feature_loss(out.real_fmaps, out.fake_fmaps)).backward()
    # published: both branches with autograd, through all parameters
    subs = list(ref.mpd.discriminators) + list(ref.msd.discriminators)
    r_in, f_in = [real] * 5 + ref.msd.inputs(real), [fake2] * 5 + ref.msd.inputs(fake2)
    rs = [s(x) for s, x in zip(subs, r_in)]
    fs = [s(x) for s, x in zip(subs, f_in)]
    loss = generator_adv_loss([s for s, _ in fs]) + feature_loss([f for _, f in rs],
                                                                  [f for _, f in fs])
    loss.backward()
    torch.testing.assert_close(fake1.grad, fake2.grad, rtol=1e-5, atol=1e-8)
    assert all(p.grad is None for p in d.parameters())


def test_narrow_discriminators_from_config():
    from vocoder.config import ConfigError, HiFiGANConfig

    cfg = HiFiGANConfig.from_dict({"discriminator_width_divisor": 4})
    d = HiFiGANDiscriminator.from_config(cfg)
    assert d.mpd.discriminators[0].convs[4].weight.shape == (256, 256, 5, 1)
    assert isinstance(d.mpd, MultiPeriodDiscriminator) and isinstance(d.msd, MultiScaleDiscriminator)
    with pytest.raises(ConfigError, match="discriminator_width_divisor"):
        HiFiGANDiscriminator.from_config(HiFiGANConfig.from_dict({"discriminator_width_divisor": 3}))
