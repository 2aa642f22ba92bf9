"""BigVGAN v1 and v2 against NVIDIA's bigvgan 2.4.1 itself (random weights)."""

import numpy as np
import pytest
import torch

from tests.vocoder.families.conftest import (check_against_reference, check_download_by_name,
                                             run_reference)

V1 = {"resblock": "1", "activation": "snake", "snake_logscale": True}  # bigvgan_22khz_80band
V2 = {"resblock": "2", "activation": "snakebeta", "snake_logscale": True,
      "use_tanh_at_final": False, "use_bias_at_final": False}  # v2's options


@pytest.mark.parametrize("version", [V1, V2], ids=["v1", "v2"])
def test_bigvgan_matches_bigvgan(upstream_envs, tmp_path, model_server, version):
    dilations = [[1, 3, 5], [1, 3, 5]] if version["resblock"] == "1" else [[1, 3], [2, 4]]
    config = dict(version, num_mels=80, upsample_rates=[4, 4, 4, 4],
                  upsample_kernel_sizes=[8, 8, 8, 8], upsample_initial_channel=32,
                  resblock_kernel_sizes=[3, 5], resblock_dilation_sizes=dilations,
                  sampling_rate=22050, n_fft=1024, hop_size=256, win_size=1024, fmin=0,
                  fmax=None, fmax_for_loss=None)
    ref = run_reference(upstream_envs, "modern", "bigvgan_ref.py", tmp_path,
                        {"config": config, "gain": 0.4, "post_scale": 2.0})
    loaded = check_against_reference(tmp_path / "bigvgan_generator.pt", "bigvgan", ref,
                                     mel_floor=-7.0)
    assert loaded.hifigan is None  # not HiFi-GAN-shaped: no conversion
    check_download_by_name(model_server, tmp_path, "bigvgan",
                           ["bigvgan_generator.pt", "config.json"], ref, -7.0,
                           main="bigvgan_generator.pt")
    # windows with the generator's context give the whole input's samples
    frames = torch.from_numpy(ref["mel"]).unsqueeze(0)
    whole = loaded.vocoder(frames)[0].numpy()
    loaded.vocoder.max_frames = 16
    np.testing.assert_allclose(loaded.vocoder(frames)[0].numpy(), whole, atol=1e-6, rtol=0)
