"""Family detection, safe reading, TorchScript exports, the commands' family options and
fine-tuning a converted vocoder (files written here in each toolkit's layout; the parity
with each toolkit's own code is in test_<family>.py)."""

import json
import math
import os

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from tests.conftest import run_cli, speechlike, tiny_config
from tests.reference.published_hifigan import Generator as PublishedGenerator
from tests.reference.published_hifigan import attr_config
from tests.vocoder.families.layouts import speechbrain_files
from vocoder.checkpoint import (CheckpointError, detect_family, family_names, load_vocoder,
                                read_checkpoint, save_converted)
from vocoder.config import ConfigError, GeneratorConfig
from vocoder.generator import HiFiGANGenerator
from vocoder.mel import MEL_PRESETS, CenteredLogMel, HiFiGANMel, mel_preset
from vocoder.train import Trainer, TrainOptions
from vocoder.errors import InputError


def test_detection_from_the_files_beside(tmp_path):
    for name, files in {
            "speechbrain": {"hyperparams.yaml": "in_channels: 80\n"},
            "espnet": {"config.yml": "generator_type: HiFiGANGenerator\n"},
            "coqui": {"config.json": json.dumps({"audio": {"fft_size": 1024}})},
            "bigvgan": {"config.json": json.dumps({"activation": "snakebeta"})},
            "hifigan": {"config.json": json.dumps(tiny_config().to_dict())}}.items():
        folder = tmp_path / name
        folder.mkdir()
        for file, text in files.items():
            (folder / file).write_text(text)
        (folder / "model.pt").write_bytes(b"x")
        assert detect_family(folder / "model.pt") == name
    (tmp_path / "pwg").mkdir()
    (tmp_path / "pwg" / "checkpoint-400000steps.pkl").write_bytes(b"x")
    assert detect_family(tmp_path / "pwg" / "checkpoint-400000steps.pkl") == "espnet"
    assert family_names() == ["torchscript", "speechbrain", "espnet", "coqui", "bigvgan",
                              "hifigan"]
    with pytest.raises(CheckpointError, match="unknown vocoder family 'nemo'; choose one of "
                                              "torchscript, speechbrain"):
        load_vocoder(tmp_path / "hifigan" / "model.pt", family="nemo")
    with pytest.raises(CheckpointError, match="nothing.pt: checkpoint file not found"):
        detect_family(tmp_path / "nothing.pt")


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_pickles_never_run_code_but_numpy_numbers_load(tmp_path):
    (tmp_path / "config.yml").write_text(yaml.safe_dump({
        "generator_type": "HiFiGANGenerator", "sampling_rate": 22050, "fft_size": 1024,
        "hop_size": 256, "generator_params": {}}))
    bad = tmp_path / "checkpoint-10steps.pkl"
    torch.save({"model": {"generator": {}}, "optimizer": _RunsCode()}, bad)
    os.chdir(tmp_path)
    with pytest.raises(CheckpointError, match=r"checkpoint-10steps\.pkl: refused: .*os\.system|"
                                              r"checkpoint-10steps\.pkl: refused: .*posix"):
        load_vocoder(bad)
    assert not (tmp_path / "pwned").exists()
    ok = tmp_path / "model_file.pth"
    torch.save({"model": {"w": torch.ones(2)}, "model_loss": np.float64(0.5),
                "stats": np.arange(3.0), "step": np.int64(7)}, ok)
    obj = read_checkpoint(ok)
    assert obj["model_loss"] == 0.5 and obj["step"] == 7 and list(obj["stats"]) == [0, 1, 2]


def test_speechbrain_layout_preset_and_converted_training(tmp_path):
    cfg = tiny_config()  # 16 kHz, hop 64, 20 mels
    ckpt, ours = speechbrain_files(tmp_path / "sb", cfg, sample_rate=None)
    assert load_vocoder(ckpt).audio.sampling_rate == 22050  # unstated: the recipes' 22.05 kHz
    with pytest.raises(ConfigError, match="num_mels=80 input channels, but the generator "
                                          "expects 20"):
        load_vocoder(ckpt, config="speechbrain-16k")  # the preset's mel does not fit this one
    ckpt, ours = speechbrain_files(tmp_path / "sb", cfg, sample_rate=16000)
    loaded = load_vocoder(ckpt)
    assert loaded.family == "speechbrain" and isinstance(loaded.frontend, CenteredLogMel)
    mel = torch.randn(1, 20, 30)
    padded = torch.nn.functional.pad(mel, (5, 5), "replicate")
    with torch.no_grad():
        expected = ours(padded)[0, 0, 5 * 64: -5 * 64]
    torch.testing.assert_close(loaded.vocoder(mel)[0], expected, atol=1e-5, rtol=0)

    out = tmp_path / "converted"
    res = run_cli("vocoder", "convert", ckpt, "-o", out)
    assert res.returncode == 0, res.stderr
    assert "speechbrain vocoder, 16000 Hz, 64 samples per frame" in res.stdout
    written = json.loads((out / "config.json").read_text())
    assert written["conv_padding_mode"] == "reflect" and written["inference_padding"] == 5
    assert written["mel_frontend"] == {"name": "speechbrain", "centered": True, "log_base": "e",
                                       "floor": 1e-5}
    assert any(k.endswith("weight_g") for k in torch.load(out / "g_00000000")["generator"])
    again = load_vocoder(out / "g_00000000")
    torch.testing.assert_close(again.vocoder(mel), loaded.vocoder(mel), atol=1e-5, rtol=0)

    # fine-tuning starts from the converted weights (small discriminators keep it quick)
    written.update(discriminator_width_divisor=8, segment_size=1024, batch_size=2,
                   num_workers=0)
    (out / "config.json").write_text(json.dumps(written))
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    for i in range(2):
        sf.write(wavs / f"u{i}.wav", speechlike(0.5, 16000, seed=i), 16000)
    trainer = Trainer(TrainOptions(config=str(out / "config.json"), output_dir=tmp_path / "run",
                                   train_wavs=str(wavs), init_from=str(out / "g_00000000"),
                                   max_steps=1, checkpoint_interval=1, validation_interval=1000,
                                   log_interval=1, num_workers=0, progress=False, keep_last=0))
    assert trainer.generator.config.conv_padding_mode == "reflect"
    start = HiFiGANGenerator(trainer.generator.config, weight_norm=True)
    start.load_state_dict(trainer.generator.state_dict())
    start.remove_weight_norm()
    for key, value in start.state_dict().items():
        torch.testing.assert_close(value, again.generator_state[key], atol=1e-6, rtol=1e-5)
    trainer.train()
    assert (tmp_path / "run" / "g_00000001").is_file()


class _EveryOther(torch.nn.Module):
    """A wrong export: half the samples a frame should give."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)[..., ::2]


def test_torchscript_export_runs_as_given(tmp_path):
    cfg = tiny_config("2")
    torch.manual_seed(0)
    ref = PublishedGenerator(attr_config(cfg.to_dict())).eval()
    ref.remove_weight_norm()
    traced = torch.jit.trace(ref, torch.randn(1, 20, 40))
    traced.save(str(tmp_path / "vocoder.pt"))
    cfg.save(tmp_path / "config.json")
    assert detect_family(tmp_path / "vocoder.pt") == "torchscript"
    loaded = load_vocoder(tmp_path / "vocoder.pt")
    assert isinstance(loaded.frontend, HiFiGANMel)
    mel = torch.randn(2, 20, 50)
    with torch.no_grad():
        expected = ref(mel)[:, 0]
    torch.testing.assert_close(loaded.vocoder(mel), expected, atol=1e-5, rtol=0)
    loaded.vocoder.max_frames = 16  # windows with the config's receptive field
    torch.testing.assert_close(loaded.vocoder(mel), expected, atol=1e-5, rtol=0)
    with pytest.raises(CheckpointError, match="TorchScript archive, not a state dict"):
        read_checkpoint(tmp_path / "vocoder.pt")
    with pytest.raises(InputError, match="runs as exported, in float32"):
        load_vocoder(tmp_path / "vocoder.pt", dtype="bfloat16")
    with pytest.raises(CheckpointError, match="not HiFi-GAN-shaped"):
        save_converted(loaded, tmp_path / "out")
    halved = torch.jit.trace(_EveryOther(ref), torch.randn(1, 20, 40))
    halved.save(str(tmp_path / "vocoder.pt"))
    with pytest.raises(InputError, match=r"turned frames \(1, 20, 7\) into \(1, 1, 224\); "
                                         r"expected \(1, 1, 448\)"):
        load_vocoder(tmp_path / "vocoder.pt").vocoder(torch.randn(1, 20, 7))


def test_odd_kernel_minus_rate_pads_like_parallel_wavegan():
    cfg = GeneratorConfig(upsample_rates=[5, 3], upsample_kernel_sizes=[10, 6],
                          upsample_initial_channel=16, resblock="2", resblock_kernel_sizes=[3],
                          resblock_dilation_sizes=[[1, 2]], in_channels=8)
    cfg.validate()
    g = HiFiGANGenerator(cfg, weight_norm=False)
    assert (g.ups[0].padding, g.ups[0].output_padding) == ((3,), (1,))
    assert g(torch.randn(1, 8, 11)).shape == (1, 1, 11 * 15)
    even = HiFiGANGenerator(GeneratorConfig(), weight_norm=False)  # published padding unchanged
    assert [(u.padding[0], u.output_padding[0]) for u in even.ups] == [(4, 0), (4, 0), (1, 0),
                                                                       (1, 0)]
    with pytest.raises(ConfigError, match="kernel 2 for rate 1"):
        GeneratorConfig(upsample_rates=[1], upsample_kernel_sizes=[2]).validate()


def test_mel_presets_and_the_mel_command(tmp_path):
    assert set(MEL_PRESETS) >= {"speechbrain-22k", "speechbrain-16k", "espnet-ljspeech"}
    sb = mel_preset("speechbrain-16k")
    assert (sb.audio.sampling_rate, sb.audio.hop_size, sb.audio.fmax) == (16000, 256, 8000.0)
    assert mel_preset("espnet-ljspeech").audio.fmin == 80.0
    with pytest.raises(InputError, match="unknown mel preset 'nope'; choose one of "
                                         "speechbrain-22k"):
        mel_preset("nope")
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    wav = speechlike(0.5, 22050)
    sf.write(wavs / "a.wav", wav, 22050, subtype="FLOAT")
    res = run_cli("vocoder", "mel", "--config", "speechbrain-22k", "--input-wavs", wavs,
                  "--output-dir", tmp_path / "mels")
    assert res.returncode == 0, res.stderr
    mel = np.load(tmp_path / "mels" / "a.npy")
    assert mel.shape == (80, 1 + len(wav) // 256)  # centred frames
    with torch.no_grad():
        np.testing.assert_allclose(mel, mel_preset("speechbrain-22k")(torch.from_numpy(wav)),
                                   atol=1e-5)
    ckpt, _ = speechbrain_files(tmp_path / "sb", tiny_config(), sample_rate=16000)
    res = run_cli("vocoder", "mel", "--checkpoint", ckpt, "--input-wavs", wavs,
                  "--output-dir", tmp_path / "sbmels")
    assert res.returncode == 0, res.stderr
    assert np.load(tmp_path / "sbmels" / "a.npy").shape == (20, 1 + 8000 // 64)
    res = run_cli("vocoder", "infer", "--checkpoint", ckpt, "--input-wavs", wavs,
                  "--output-dir", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    assert sf.info(str(tmp_path / "out" / "a.wav")).frames == (1 + 8000 // 64) * 64
    res = run_cli("vocoder", "mel", "--family", "espnet", "--config", "v1", "--input-wavs", wavs,
                  "--output-dir", tmp_path / "x")
    assert res.returncode == 2 and "give --checkpoint too" in res.stderr
    assert math.isfinite(float(mel.mean()))
