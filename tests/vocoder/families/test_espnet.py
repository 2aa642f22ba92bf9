"""ESPnet / ParallelWaveGAN HiFi-GAN against parallel_wavegan 0.6.1 itself (random weights)."""

import math

import pytest

from tests.vocoder.families.conftest import (check_against_reference, check_download_by_name,
                                             run_reference)


def _spec(stats: str, odd: bool) -> dict:
    if odd:  # 24 kHz recipes: hop 300, rates 5*5*4*3 (kernel - rate odd: output padding)
        audio = {"sampling_rate": 24000, "fft_size": 1024, "hop_size": 300, "fmin": 80,
                 "fmax": 7600}
        scales, kernels = [5, 5, 4, 3], [10, 10, 8, 6]
    else:  # LJSpeech recipes
        audio = {"sampling_rate": 22050, "fft_size": 1024, "hop_size": 256, "fmin": 80,
                 "fmax": 7600}
        scales, kernels = [8, 8, 4], [16, 16, 8]
    config = dict(audio, win_length=None, window="hann", num_mels=80, trim_silence=False)
    params = {"in_channels": 80, "out_channels": 1, "channels": 32, "kernel_size": 7,
              "upsample_scales": scales, "upsample_kernel_sizes": kernels,
              "resblock_kernel_sizes": [3, 5], "resblock_dilations": [[1, 3, 5], [1, 3, 5]],
              "use_additional_convs": not odd, "bias": True,
              "nonlinear_activation": "LeakyReLU",
              "nonlinear_activation_params": {"negative_slope": 0.1}, "use_weight_norm": True}
    if not odd:
        params["resblock_dilations"] = [[1, 3, 5], [1, 3, 5]]
    else:
        params["resblock_dilations"] = [[1, 2], [2, 6]]
    return {"config": config, "generator_params": params, "stats": stats, "typo_key": odd}


@pytest.mark.parametrize("stats,odd", [("h5", True), ("npy", False)])
def test_espnet_matches_parallel_wavegan(upstream_envs, tmp_path, model_server, stats, odd):
    spec = _spec(stats, odd)
    rate = spec["config"]["sampling_rate"]
    ref = run_reference(upstream_envs, "pwg", "espnet_ref.py", tmp_path, spec, sample_rate=rate)
    loaded = check_against_reference(tmp_path / "checkpoint-10steps.pkl", "espnet", ref,
                                     mel_floor=-7.0 / math.log(10))
    assert loaded.audio.hop_size == spec["config"]["hop_size"]
    assert loaded.hifigan.generator.resblock == ("2" if odd else "1")
    assert "input_mean" in loaded.hifigan.extra  # statistics found beside the checkpoint
    # published as ParallelWaveGAN does: one tar.gz, unpacked side by side, found by name
    files = ["checkpoint-10steps.pkl", "config.yml", f"stats.{stats}"]
    check_download_by_name(model_server, tmp_path, "espnet", files, ref, -7.0 / math.log(10),
                           main="checkpoint-*.pkl", archive="tar.gz")
