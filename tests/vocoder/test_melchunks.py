"""vocoder.melchunks: mels computed chunk by chunk equal one call of the frontend, for every
family's frontend, and stream into a .npy file equal to numpy's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import speechlike, tiny_config
from vocoder.config import AudioConfig
from vocoder.errors import InputError
from vocoder.mel import MEL_PRESETS, CoquiMel, DbNormalization, HiFiGANMel, MelSpectrogram
from vocoder.melchunks import chunked_mel, frame_count, mel_chunks, write_mel_file

FRONTENDS = {"hifigan": lambda: HiFiGANMel(AudioConfig()),
             "plain": lambda: MelSpectrogram(tiny_config().audio),
             "coqui": lambda: CoquiMel(AudioConfig(), DbNormalization(preemphasis=0.97)),
             **MEL_PRESETS}


@pytest.mark.parametrize("name", list(FRONTENDS))
def test_chunks_equal_one_call(name):
    frontend = FRONTENDS[name]()
    wav = speechlike(7.0, 22050, seed=5)
    with torch.inference_mode():
        whole = frontend(torch.from_numpy(wav))
    assert whole.shape[1] == frame_count(frontend, len(wav))
    for chunk_frames in (1, 17, 200, 10_000):
        torch.testing.assert_close(chunked_mel(frontend, wav, chunk_frames=chunk_frames), whole,
                                   rtol=0, atol=1e-5)
    blocks = [wav[i:i + 3001] for i in range(0, len(wav), 3001)]
    streamed = torch.cat(list(mel_chunks(frontend, blocks, chunk_frames=64)), dim=1)
    torch.testing.assert_close(streamed, whole, rtol=0, atol=1e-5)


def test_too_short_audio_raises_the_frontends_error():
    with pytest.raises(ValueError, match="too short"):
        chunked_mel(HiFiGANMel(AudioConfig()), np.zeros(100, np.float32))


def test_write_mel_file_equals_numpy_save(tmp_path):
    frontend = HiFiGANMel(AudioConfig())
    wav = speechlike(4.0, 22050, seed=6)
    blocks = (wav[i:i + 5000] for i in range(0, len(wav), 5000))
    shape = write_mel_file(tmp_path / "m.npy", frontend, blocks, len(wav), chunk_frames=50)
    mel = np.load(tmp_path / "m.npy")
    assert shape == mel.shape == (80, len(wav) // 256) and mel.flags.c_contiguous
    np.testing.assert_allclose(mel, chunked_mel(frontend, wav).numpy(), rtol=0, atol=1e-5)
    with pytest.raises(InputError, match=r"x\.wav: its header declares 99999 samples"):
        write_mel_file(tmp_path / "n.npy", frontend, [wav], 99999, source="x.wav")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npy"]
