"""vocoder.audio, the one audio reader and writer: rates bounded before decoding, a duration
limit, block-by-block reading and resampling that give librosa's samples, WAV files as
libsndfile writes them."""

from __future__ import annotations

import io

import librosa
import numpy as np
import pytest
import soundfile as sf

from tests.conftest import speechlike
from tests.hostile import long_wav, wav_bytes
from vocoder.audio import (AudioError, SampleRateError, load_audio, read_header, resample,
                           save_wav, stream_audio, to_int16)
from vocoder.frames import load_npy


def test_reading_and_resampling_give_librosas_samples(tmp_path, monkeypatch):
    x = speechlike(3.0, 44100, seed=1)
    sf.write(str(tmp_path / "st.wav"), np.stack([x, 0.5 * x], axis=1), 44100)
    data, _ = sf.read(str(tmp_path / "st.wav"), dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    expected = librosa.resample(mono, orig_sr=44100, target_sr=22050, res_type="soxr_hq")
    wav, rate = load_audio(tmp_path / "st.wav", 22050)
    assert rate == 22050 and wav.dtype == np.float32
    np.testing.assert_array_equal(wav, expected)
    for block in (999, 4096, 1 << 20):  # any block size: the same samples
        joined = np.concatenate(list(stream_audio(tmp_path / "st.wav", 22050, block_frames=block)))
        np.testing.assert_array_equal(joined, expected)
    np.testing.assert_array_equal(load_audio(tmp_path / "st.wav")[0], mono)
    import vocoder.audio

    monkeypatch.setattr(vocoder.audio, "BLOCK_FRAMES", 5000)  # resample() in blocks, too
    np.testing.assert_array_equal(resample(mono, 44100, 22050), expected)
    batch = resample(np.stack([mono, -mono]), 44100, 16000)
    np.testing.assert_array_equal(batch[1], librosa.resample(-mono, orig_sr=44100,
                                                             target_sr=16000, res_type="soxr_hq"))


@pytest.mark.parametrize("rate", [1, 3999, 192001, 10**9])
def test_unusable_rates_are_refused_from_the_header(tmp_path, rate):
    path = tmp_path / "odd.wav"
    path.write_bytes(wav_bytes(181_000, rate))
    for read in (read_header, load_audio, lambda p: list(stream_audio(p))):
        with pytest.raises(SampleRateError, match=rf"odd\.wav: sample rate {rate} Hz is not "
                                                  r"usable \(audio must be 4000-192000 Hz\)"):
            read(path)
    with pytest.raises(SampleRateError, match="resampling: output: sample rate 1 Hz"):
        resample(np.zeros(100, np.float32), 16000, 1)


def test_the_duration_limit_is_checked_before_decoding(tmp_path):
    long_wav(tmp_path / "long.wav", 7200, 16000, speechlike(1.0, 16000))  # sparse, no disk
    assert read_header(tmp_path / "long.wav").seconds == 7200
    with pytest.raises(AudioError, match=r"long\.wav: 7200\.0 s of audio is longer than the "
                                         r"limit of 3600 s") as info:
        load_audio(tmp_path / "long.wav")
    assert info.value.key == "max_seconds"
    with pytest.raises(AudioError, match="longer than the limit of 1 s"):
        load_audio(tmp_path / "long.wav", max_seconds=1)
    first = next(stream_audio(tmp_path / "long.wav"))  # streaming reads any length
    assert first.shape == (1 << 18,)


def test_unreadable_files_are_one_line_naming_the_file(tmp_path):
    (tmp_path / "a\nb.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    (tmp_path / "empty.wav").write_bytes(wav_bytes(0, 16000))
    with pytest.raises(AudioError) as info:
        load_audio(tmp_path / "a\nb.wav")
    assert str(info.value).startswith(repr(str(tmp_path / "a\nb.wav")) + ": cannot read audio")
    assert "\n" not in str(info.value)
    with pytest.raises(AudioError, match=r"empty\.wav: audio file has no samples"):
        load_audio(tmp_path / "empty.wav")
    with pytest.raises(AudioError, match=r"nothing\.wav: audio file not found"):
        load_audio(tmp_path / "nothing.wav")


def test_save_wav_writes_what_libsndfile_writes(tmp_path):
    wav = speechlike(1.3, 22050, seed=4) * 3  # clipped
    save_wav(tmp_path / "ours.wav", wav, 22050)
    buffer = io.BytesIO()
    sf.write(buffer, to_int16(wav), 22050, subtype="PCM_16", format="WAV")
    assert (tmp_path / "ours.wav").read_bytes() == buffer.getvalue()


def test_npy_files_of_any_float_byte_order_and_width(tmp_path):
    values = np.random.default_rng(0).normal(size=(3, 4))
    for dtype in (">f4", "<f8", ">f2", np.longdouble):
        np.save(tmp_path / "m.npy", values.astype(dtype))
        arr = load_npy(tmp_path / "m.npy")
        assert arr.dtype.isnative and arr.dtype.itemsize <= 8
        np.testing.assert_array_equal(arr, values.astype(dtype).astype(arr.dtype))
    np.save(tmp_path / "t.npy", values)
    (tmp_path / "t.npy").write_bytes((tmp_path / "t.npy").read_bytes()[:-8])
    with pytest.raises(ValueError, match=r"t\.npy: truncated \.npy file: its header declares "
                                         r"shape \(3, 4\) \(96 bytes\) but 88 bytes follow"):
        load_npy(tmp_path / "t.npy")
