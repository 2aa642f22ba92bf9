"""SpeechBrain's HiFi-GAN against speechbrain 1.1.2 itself (random weights)."""

import pytest

from tests.vocoder.families.conftest import (check_against_reference, check_download_by_name,
                                             run_reference)

GENERATOR = {"resblock_type": "1", "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]],
             "resblock_kernel_sizes": [3, 5], "upsample_kernel_sizes": [16, 16, 8],
             "upsample_initial_channel": 32, "upsample_factors": [8, 8, 4]}


@pytest.mark.parametrize("sample_rate,legacy_names", [(22050, False), (16000, True)])
def test_speechbrain_matches_speechbrain(upstream_envs, tmp_path, model_server, sample_rate,
                                         legacy_names):
    mel = {"sample_rate": sample_rate, "hop_length": 256, "win_length": 1024, "n_fft": 1024,
           "n_mels": 80, "f_min": 0.0, "f_max": 8000.0}
    spec = {"generator": GENERATOR, "mel": mel, "legacy_names": legacy_names}
    ref = run_reference(upstream_envs, "modern", "speechbrain_ref.py", tmp_path, spec,
                        sample_rate=sample_rate)
    # SpeechBrain's decode_batch returns the 5 frames of inference padding at each end
    loaded = check_against_reference(tmp_path / "generator.ckpt", "speechbrain", ref,
                                     mel_floor=-7.0, trim_frames=5)
    assert loaded.audio.sampling_rate == sample_rate
    assert loaded.hifigan.generator.conv_padding_mode == "reflect"
    # published as SpeechBrain does (two files), with the registry's mel preset
    preset = "speechbrain-16k" if sample_rate == 16000 else "speechbrain-22k"
    check_download_by_name(model_server, tmp_path, "speechbrain",
                           ["generator.ckpt", "hyperparams.yaml"], ref, -7.0,
                           main="generator.ckpt", mel_preset=preset, trim_frames=5)
