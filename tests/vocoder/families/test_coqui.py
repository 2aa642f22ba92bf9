"""Coqui TTS HiFi-GAN against coqui-tts 0.28.0 itself (random weights)."""

import pytest

from tests.vocoder.families.conftest import (check_against_reference, check_download_by_name,
                                             run_reference)


@pytest.mark.parametrize("preemphasis,log_func", [(0.0, "np.log10"), (0.97, "np.log")])
def test_coqui_matches_coqui_tts(upstream_envs, tmp_path, model_server, preemphasis, log_func):
    audio = {"sample_rate": 22050, "fft_size": 1024, "win_length": 1024, "hop_length": 256,
             "num_mels": 80, "mel_fmin": 0.0, "mel_fmax": 8000.0, "preemphasis": preemphasis,
             "log_func": log_func}
    params = {"upsample_factors": [8, 8, 4], "upsample_kernel_sizes": [16, 16, 8],
              "upsample_initial_channel": 32, "resblock_kernel_sizes": [3, 5, 7],
              "resblock_dilation_sizes": [[1, 2], [2, 6], [3, 12]], "resblock_type": "2"}
    ref = run_reference(upstream_envs, "modern", "coqui_ref.py", tmp_path,
                        {"audio": audio, "generator_model_params": params})
    # Coqui's inference returns the 5 frames of inference padding at each end
    check_against_reference(tmp_path / "model_file.pth", "coqui", ref, mel_floor=None,
                            trim_frames=5)
    # published as Coqui does: one zip, unpacked side by side, found by name
    check_download_by_name(model_server, tmp_path, "coqui", ["model_file.pth", "config.json"],
                           ref, None, main="model_file.pth*", archive="zip", trim_frames=5)
