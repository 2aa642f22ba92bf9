"""kNN-VC: kNN regression against brute force, matching sets, trimming, full conversion."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pyloudnorm
import torch

from synth.audio import trim_silence
from synth.features import SSLFeatureExtractor
from synth.knnvc import (KnnVC, KnnVCConfig, MatchingSet, MatchingSetError, build_matching_set,
                         knn_regress)
from vocoder.audio import save_wav

from .tiny import TINY_DIM, speechlike, tiny_generator, tiny_model


def brute_force_knn(query: torch.Tensor, keys: torch.Tensor, k: int,
                    values: torch.Tensor | None = None) -> torch.Tensor:
    """Reference: for each query row, cosine distance to every key one by one (float64),
    the k smallest, and the mean of those rows."""
    q = query.double().numpy()
    m = keys.double().numpy()
    v = m if values is None else values.double().numpy()
    out = np.empty_like(q)
    for i, row in enumerate(q):
        dist = np.array([1.0 - row @ key / (np.linalg.norm(row) * np.linalg.norm(key))
                         for key in m])
        nearest = np.argsort(dist, kind="stable")[:k]
        out[i] = v[nearest].mean(axis=0)
    return torch.from_numpy(out)


@pytest.mark.parametrize("k", [1, 4, 7])
def test_knn_regress_equals_brute_force(k):
    gen = torch.Generator().manual_seed(k)
    query = torch.randn(37, 24, generator=gen) * 3 + 1
    keys = torch.randn(211, 24, generator=gen) * 2 - 0.5
    ref = brute_force_knn(query, keys, k)
    out = knn_regress(query, keys, k)
    assert out.shape == (37, 24) and out.dtype == torch.float32
    torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=0)
    # Chunking over the query (a tiny memory budget -> one row at a time) changes nothing.
    torch.testing.assert_close(knn_regress(query, keys, k, max_memory_mb=1e-4), out,
                               atol=0, rtol=0)


def test_knn_regress_with_synth_set_and_duplicates():
    gen = torch.Generator().manual_seed(0)
    keys = torch.randn(50, 16, generator=gen)
    keys = torch.cat([keys, keys[:10]])  # exact duplicates: ties give identical rows anyway
    values = torch.randn(60, 16, generator=gen)
    values[50:] = values[:10]
    query = torch.randn(20, 16, generator=gen)
    torch.testing.assert_close(knn_regress(query, keys, 4, synth_set=values).double(),
                               brute_force_knn(query, keys, 4, values), atol=1e-5, rtol=0)
    # A query equal to a key finds it: with k=1 the output is that key.
    torch.testing.assert_close(knn_regress(keys[:5] * 3.0, keys, 1), keys[:5])


def test_knn_regress_accepts_a_float16_matching_set():
    gen = torch.Generator().manual_seed(1)
    ms = MatchingSet(torch.randn(300, 32, generator=gen).half(), "m", 6)
    query = torch.randn(25, 32, generator=gen)
    torch.testing.assert_close(knn_regress(query, ms, 4).double(),
                               brute_force_knn(query, ms.features.float(), 4), atol=1e-5, rtol=0)


def test_knn_regress_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"must share dim; got \(3, 8\) and \(5, 9\)"):
        knn_regress(torch.zeros(3, 8), torch.zeros(5, 9))
    with pytest.raises(ValueError, match=r"k must be in 1\.\.5"):
        knn_regress(torch.ones(3, 8), torch.ones(5, 8), k=6)
    with pytest.raises(ValueError, match="synth_set must have"):
        knn_regress(torch.ones(3, 8), torch.ones(5, 8), synth_set=torch.ones(4, 8))


def test_matching_set_save_load_and_refusal(tmp_path):
    feats = torch.randn(123, 16) * 4
    ms = MatchingSet(feats, "WAVLM_LARGE", 6, 50.0, ["a.wav", "b.wav"], [100, 23])
    path = tmp_path / "sets" / "speaker.pt"
    ms.save(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["speaker.pt"]  # no temp files left
    raw = torch.load(path, weights_only=True)
    assert raw["features"].dtype == torch.float16
    loaded = MatchingSet.load(path, model="WAVLM_LARGE", layer=6, dim=16)
    assert (loaded.model, loaded.layer, loaded.frame_rate) == ("WAVLM_LARGE", 6, 50.0)
    assert loaded.sources == ["a.wav", "b.wav"] and loaded.source_frames == [100, 23]
    assert loaded.num_frames == 123 and math.isclose(loaded.seconds, 2.46)
    torch.testing.assert_close(loaded.features.float(), feats, atol=4 * 2**-10, rtol=2**-10)

    with pytest.raises(MatchingSetError, match=r"speaker\.pt: made with model 'WAVLM_LARGE' "
                                               r"\(expected 'HUBERT_BASE'\)"):
        MatchingSet.load(path, model="HUBERT_BASE")
    with pytest.raises(MatchingSetError, match=r"layer 6 \(expected 7\)"):
        MatchingSet.load(path, model="WAVLM_LARGE", layer=7)
    with pytest.raises(MatchingSetError, match=r"16-dim features \(expected 1024\)"):
        MatchingSet.load(path, dim=1024)
    (tmp_path / "x.pt").write_bytes(b"garbage")
    with pytest.raises(MatchingSetError, match=r"x\.pt: not a PyTorch matching set, or the "
                                               r"file is corrupt"):
        MatchingSet.load(tmp_path / "x.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "y.pt")
    with pytest.raises(MatchingSetError, match=r"y\.pt: not a hifisynth matching set"):
        MatchingSet.load(tmp_path / "y.pt")
    with pytest.raises(MatchingSetError, match="overflow float16"):
        MatchingSet(torch.full((2, 4), 1e6), "m", 6).save(tmp_path / "z.pt")
    assert not (tmp_path / "z.pt").exists()


def _padded_speech(seconds_silence: float, seconds_speech: float, seed: int = 0) -> np.ndarray:
    silence = np.zeros(int(seconds_silence * 16000), np.float32)
    return np.concatenate([silence, speechlike(seconds_speech, seed=seed), silence])


def test_build_matching_set_from_files_and_waveforms(tmp_path):
    ext = SSLFeatureExtractor(tiny_model("wavlm"), "tiny-wavlm")
    save_wav(tmp_path / "a.wav", _padded_speech(0.8, 1.2, seed=1), 16000)
    at_8k = speechlike(1.0, sample_rate=8000, seed=2)
    untrimmed = speechlike(0.6, seed=3)
    ms = build_matching_set(ext, [tmp_path / "a.wav", (at_8k, 8000), untrimmed], layer=2)
    assert (ms.model, ms.layer, ms.dim, ms.frame_rate) == ("tiny-wavlm", 2, TINY_DIM, 50.0)
    assert ms.sources == [str(tmp_path / "a.wav"), "<waveform 1>", "<waveform 2>"]
    assert sum(ms.source_frames) == ms.num_frames
    # The silent 0.8 s at each end of a.wav is gone: ~1.2 s of speech is ~60 frames, not 140.
    assert 50 <= ms.source_frames[0] <= 75
    # Each part equals extracting the trimmed audio on its own.
    trimmed = trim_silence(torch.from_numpy(untrimmed), 16000)
    torch.testing.assert_close(ms.features[-ms.source_frames[2]:],
                               ext.extract_list([trimmed], 2)[0])
    with pytest.raises(MatchingSetError, match=r"<waveform 0>: no speech left after trimming"):
        build_matching_set(ext, [np.zeros(16000, np.float32)], layer=2)
    with pytest.raises(MatchingSetError, match="at least one reference"):
        build_matching_set(ext, [], layer=2)


def _converter(upsample_rates=(10, 8, 4), **config):
    ext = SSLFeatureExtractor(tiny_model("wavlm"), "tiny-wavlm")
    gen = tiny_generator(TINY_DIM, upsample_rates)
    return KnnVC(ext, gen, config=KnnVCConfig(layer=2, **config))


def test_full_conversion_length_and_loudness(tmp_path):
    vc = _converter()
    assert vc.sample_rate == 16000
    target = build_matching_set(vc.extractor, [speechlike(3.0, seed=4, f0=220.0)], layer=2)
    target.save(tmp_path / "target.pt")
    target = MatchingSet.load(tmp_path / "target.pt")
    source = speechlike(2.0, seed=5)
    save_wav(tmp_path / "source.wav", source, 16000)
    out = vc.convert(tmp_path / "source.wav", target)
    frames = (32000 - 400) // 320 + 1
    assert out.dtype == np.float32 and out.shape == (frames * 320,)
    assert pyloudnorm.Meter(16000).integrated_loudness(out.astype(np.float64)) == \
        pytest.approx(-16.0, abs=0.05)
    # The same as the steps by hand: features -> kNN (k=4) -> vocoder.
    feats = vc.extractor.extract_file(tmp_path / "source.wav", 2)
    raw = vc.vocode(knn_regress(feats, target.features.float(), 4)).numpy()
    scale = out / np.where(np.abs(raw) > 1e-3, raw, np.nan)
    assert np.nanstd(scale) < 1e-3 * np.nanmean(scale)  # out = raw * constant gain
    # Loudness normalisation can be changed or turned off.
    vc.config.target_loudness = -23.0
    quiet = vc.convert((source, 16000), target)
    assert pyloudnorm.Meter(16000).integrated_loudness(quiet.astype(np.float64)) == \
        pytest.approx(-23.0, abs=0.05)
    vc.config.target_loudness = None
    np.testing.assert_allclose(vc.convert(source, target), raw, atol=1e-6)


def test_conversion_at_22050_hz_and_refusals():
    vc = _converter(upsample_rates=(7, 7, 9))  # 441 samples per 50 Hz frame
    assert vc.sample_rate == 22050
    target = build_matching_set(vc.extractor, [speechlike(2.0, seed=6)], layer=2)
    out = vc.convert(speechlike(1.0, seed=7), target)
    assert out.shape == (((16000 - 400) // 320 + 1) * 441,)
    other = MatchingSet(target.features, "WAVLM_LARGE", 6)
    with pytest.raises(MatchingSetError, match=r"made with model 'WAVLM_LARGE' \(expected "
                                               r"'tiny-wavlm'\), layer 6 \(expected 2\)"):
        vc.convert(speechlike(1.0), other)
    with pytest.raises(ValueError, match=r"vocoder sample rate 16000 Hz does not match 50 "
                                         r"frames/s x 441 samples per frame = 22050 Hz"):
        KnnVC(vc.extractor, vc.vocoder, sample_rate=16000)
    with pytest.raises(ValueError, match="takes 48-dim features but tiny-wavlm gives 32-dim"):
        KnnVC(vc.extractor, tiny_generator(48))


@pytest.mark.parametrize("chunk", [7, 16, 49])
def test_chunked_vocoding_matches_one_pass(chunk):
    vc = _converter(vocoder_chunk_frames=chunk)
    feats = torch.randn(50, TINY_DIM)
    with torch.no_grad():
        whole = vc.vocoder(feats.T[None])[0, 0]  # the generator on everything at once
    chunked = vc.vocode(feats)
    assert chunked.shape == whole.shape == (50 * 320,)
    torch.testing.assert_close(chunked, whole, atol=1e-6, rtol=1e-5)
