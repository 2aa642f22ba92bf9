"""Checks on uploaded files (synth.uploads): the limits Gradio's own checks never see, and
compressed formats (MP3, FLAC, Ogg Vorbis and Opus) decoded by libsndfile, no ffmpeg."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from synth.uploads import Limits, UploadError, read_clip, read_clips, read_mel_upload
from tests.conftest import speechlike, write_wav

SR = 16000


def test_read_clip_limits_beyond_what_gradio_checks(tmp_path) -> None:
    limits = Limits(max_upload_mb=0.05, max_seconds=3)
    big = write_wav(tmp_path / "big.wav", speechlike(2.0, SR), SR)  # 64 kB
    with pytest.raises(UploadError, match=r"source \(big.wav\): the file is 0.1 MB; the "
                                          r"limit is 0.05 MB"):
        read_clip(big, "source", limits)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(UploadError, match="the file is empty"):
        read_clip(empty, "source", limits)
    with pytest.raises(UploadError, match="the upload is missing"):
        read_clip(tmp_path / "gone.wav", "source", limits)
    header_only = write_wav(tmp_path / "nosamples.wav", np.zeros(0, np.float32), SR)
    with pytest.raises(UploadError, match=r"source \(nosamples.wav\): audio file has no "
                                          r"samples"):
        read_clip(header_only, "source", Limits())
    ok = read_clip(write_wav(tmp_path / "ok.wav", speechlike(1.0, 48000), 48000), "ref",
                   Limits(), target_rate=SR)
    assert ok.sample_rate == 48000 and ok.wav.dtype == np.float32 and ok.seconds == 1.0
    assert ok.notes == ["ref (ok.wav): resampled from 48000 Hz to 16000 Hz"]
    with pytest.raises(UploadError, match="3 reference clips; the limit is 2"):
        read_clips([ok_path := str(tmp_path / "ok.wav")] * 3, "reference",
                   Limits(max_references=2))
    assert len(read_clips(ok_path, "reference", Limits())) == 1 and read_clips(None, "r", Limits()) == []


@pytest.mark.parametrize("suffix, fmt, subtype", [(".mp3", "MP3", "MPEG_LAYER_III"),
                                                  (".flac", "FLAC", "PCM_16"),
                                                  (".ogg", "OGG", "VORBIS"),
                                                  (".opus", "OGG", "OPUS")])
def test_compressed_uploads_decode_without_ffmpeg(tmp_path, suffix, fmt, subtype) -> None:
    rate = 48000 if subtype == "OPUS" else 22050  # Opus runs at 48 kHz
    speech = speechlike(1.5, rate, seed=3)
    path = tmp_path / f"clip{suffix}"
    sf.write(str(path), np.stack([speech, 0.5 * speech], axis=1), rate, format=fmt,
             subtype=subtype)
    clip = read_clip(path, "source", Limits(), target_rate=SR)
    assert clip.sample_rate == rate and abs(clip.seconds - 1.5) < 0.1
    assert f"source (clip{suffix}): 2 channels, mixed down to mono" in clip.notes
    # Lossy, but the same speech: well correlated with the original mix.
    n = min(len(clip.wav), len(speech))
    lag = int(np.argmax(np.correlate(clip.wav[:n], 0.75 * speech[:n], "full"))) - (n - 1)
    shifted = clip.wav[max(lag, 0):n] if lag >= 0 else clip.wav[:n + lag]
    reference = (0.75 * speech)[:len(shifted)] if lag >= 0 else (0.75 * speech)[-lag:n]
    assert np.corrcoef(shifted, reference)[0, 1] > 0.9


def test_mel_uploads(tmp_path) -> None:
    np.save(tmp_path / "m.npy", np.zeros((20, 10), np.float32))
    path, array = read_mel_upload(tmp_path / "m.npy", Limits())
    assert path.name == "m.npy" and array.shape == (20, 10)
    (tmp_path / "m.txt").write_text("1 2 3")
    with pytest.raises(UploadError, match=r"mel \(m.txt\): expected a .npy file"):
        read_mel_upload(tmp_path / "m.txt", Limits())
    np.save(tmp_path / "flat.npy", np.zeros(10, np.float32))
    with pytest.raises(UploadError, match=r"mel \(flat.npy\): expected an array of shape "
                                          r"\(num_mels, frames\), got \(10,\)"):
        read_mel_upload(tmp_path / "flat.npy", Limits())
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UploadError, match="refused: not a plain .npy array") as info:
        read_mel_upload(tmp_path / "objects.npy", Limits())
    assert str(tmp_path) not in str(info.value)  # the server's folder is not shown
