import json
import warnings

import numpy as np
import pytest
import torch

from tests.conftest import tiny_config
from tests.reference.published_hifigan import Generator as PublishedGenerator
from tests.reference.published_hifigan import attr_config
from vocoder.checkpoint import CheckpointError, load_generator, read_checkpoint, save_generator
from vocoder.config import HiFiGANConfig
from vocoder.generator import HiFiGANGenerator


def _published(cfg: HiFiGANConfig, seed: int = 0) -> PublishedGenerator:
    torch.manual_seed(seed)
    g = PublishedGenerator(attr_config(cfg.to_dict()))
    with torch.no_grad():  # make weight norm's magnitude matter
        for name, p in g.named_parameters():
            if name.endswith("weight_g"):
                p.mul_(torch.rand_like(p) + 0.5)
    return g.eval()


def _published_run(tmp_path, cfg: HiFiGANConfig, name: str = "g_00100000"):
    """A run directory as the published training writes it: g_ file plus config.json."""
    ref = _published(cfg)
    (tmp_path / "config.json").write_text(json.dumps(cfg.to_dict(), indent=4))
    torch.save({"generator": ref.state_dict()}, tmp_path / name)
    return tmp_path / name, ref


def _assert_same_output(ours, ref, channels: int):
    x = torch.randn(2, channels, 17)
    with torch.no_grad():
        ref_out = ref(x)
        ref.remove_weight_norm()
        torch.testing.assert_close(ours(x), ref_out, atol=1e-5, rtol=0)
        torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=0)


def test_published_training_checkpoint_weight_g_weight_v(tmp_path):
    cfg = tiny_config()
    path, ref = _published_run(tmp_path, cfg)
    assert any(k.endswith("weight_g") for k in torch.load(path)["generator"])
    ours, loaded_cfg = load_generator(path)  # config.json beside it
    assert loaded_cfg == cfg
    assert not ours.has_weight_norm
    _assert_same_output(ours, ref, 20)


def test_checkpoint_saved_by_newer_pytorch_parametrizations(tmp_path):
    cfg = tiny_config("2")
    g = HiFiGANGenerator(cfg.generator).eval()
    torch.save({"generator": g.state_dict()}, tmp_path / "g_new")
    assert any("parametrizations.weight.original0" in k for k in g.state_dict())
    loaded, _ = load_generator(tmp_path / "g_new", cfg)
    x = torch.randn(1, 20, 11)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), g(x), atol=1e-5, rtol=0)
    kept, _ = load_generator(tmp_path / "g_new", cfg, weight_norm=True)
    assert kept.has_weight_norm


def test_torchaudio_style_plain_state_dict(tmp_path):
    cfg = tiny_config("2")
    ref = _published(cfg)
    ref.remove_weight_norm()
    torch.save(ref.state_dict(), tmp_path / "hifigan_vocoder.pth")  # bare, no weight norm
    ours, _ = load_generator(tmp_path / "hifigan_vocoder.pth", cfg)
    x = torch.randn(1, 20, 9)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), atol=1e-6, rtol=0)
    trainable, _ = load_generator(tmp_path / "hifigan_vocoder.pth", cfg, weight_norm=True)
    with torch.no_grad():
        torch.testing.assert_close(trainable(x), ref(x), atol=1e-5, rtol=0)


def test_knnvc_feature_vocoder_with_its_config(tmp_path):
    cfg = tiny_config(input_dim=24)
    assert "hubert_dim" in cfg.to_dict()
    path, ref = _published_run(tmp_path, cfg, "prematch_g_02500000.pt")
    assert "lin_pre.weight" in torch.load(path)["generator"]
    ours, loaded_cfg = load_generator(path)
    assert loaded_cfg.is_feature_vocoder and loaded_cfg.input_channels == 24
    _assert_same_output(ours, ref, 24)


def test_feature_checkpoint_with_mel_config_is_explained(tmp_path):
    cfg = tiny_config(input_dim=24)
    path, _ = _published_run(tmp_path, cfg)
    with pytest.raises(CheckpointError, match="feature-input .*kNN-VC.* describes a mel vocoder"):
        load_generator(path, tiny_config())


def test_checkpoint_that_would_run_code_is_refused(tmp_path):
    cfg = tiny_config()
    g = HiFiGANGenerator(cfg.generator)
    path = tmp_path / "g_evil"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save({"generator": g.state_dict(), "obj": _Evil()}, path)
    with pytest.raises(CheckpointError, match=r"g_evil: refused: loading it would run code "
                                              r"\(builtins\.print\), so it is unsafe"):
        load_generator(path, cfg)


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_shape_mismatch_names_parameter_and_both_shapes(tmp_path):
    cfg = tiny_config()
    path, _ = _published_run(tmp_path, cfg)
    other = tiny_config()
    other.generator.upsample_initial_channel = 64
    with pytest.raises(CheckpointError) as info:
        load_generator(path, other)
    message = str(info.value)
    assert "parameter 'conv_pre.bias'" in message
    assert "(32,) in the checkpoint but (64,) in given config" in message


def test_missing_corrupt_empty_and_no_config(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint file not found"):
        load_generator(tmp_path / "g_missing", "v1")
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        read_checkpoint(tmp_path / "empty")
    # Garbage makes the unpickler fail in many ways (EOFError, IndexError, UnpicklingError...):
    # every one must be reported as a corrupt file. Seeded, so a failure reproduces.
    rng = np.random.default_rng(0)
    blobs = [b"a", b"\x80\x02a.", b"PK\x03\x04 not a zip"] + [
        rng.integers(0, 256, int(n), dtype=np.uint8).tobytes() for n in rng.integers(1, 3000, 200)]
    for i, blob in enumerate(blobs):
        junk = tmp_path / f"junk{i}.pt"
        junk.write_bytes(blob)
        with pytest.raises(CheckpointError, match=rf"junk{i}\.pt: (not a PyTorch checkpoint, or "
                                                  r"the file is corrupt|refused: )"):
            read_checkpoint(junk)
    cfg = tiny_config()
    torch.save({"generator": HiFiGANGenerator(cfg.generator).state_dict()}, tmp_path / "g_1")
    with pytest.raises(CheckpointError, match="no config given and no config.json beside it; "
                                              "give the published config.json or a preset") as err:
        load_generator(tmp_path / "g_1")
    assert "--" not in str(err.value)  # library messages name no command-line flag
    torch.save({"mpd": {}, "msd": {}, "steps": 3}, tmp_path / "do_1")
    with pytest.raises(CheckpointError, match="no HiFi-GAN generator found"):
        load_generator(tmp_path / "do_1", cfg)


def test_save_generator_writes_published_layout(tmp_path):
    cfg = tiny_config()
    g = HiFiGANGenerator(cfg.generator)
    save_generator(tmp_path / "run" / "g_00000010", g, cfg)
    raw = torch.load(tmp_path / "run" / "g_00000010", weights_only=True)
    assert set(raw) == {"generator"}
    assert "conv_pre.weight_g" in raw["generator"] and "conv_pre.weight_v" in raw["generator"]
    assert HiFiGANConfig.load(tmp_path / "run" / "config.json") == cfg
    ref = PublishedGenerator(attr_config(cfg.to_dict()))
    ref.load_state_dict(raw["generator"])  # the published code loads what we write
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json", "g_00000010"]
