"""Hugging Face feature extraction: parity with transformers' own forward for every supported
architecture, batching, windows, bfloat16, loading and its errors, and kNN-VC on top."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from synth.extraction import FeatureExtractor
from synth.features import ExtractorConfig, SSLFeatureExtractor
from synth.featurefiles import extract_aligned
from synth.knnvc import (KnnVC, KnnVCConfig, MatchingSet, MatchingSetError, build_matching_set,
                         knn_regress)
from vocoder.errors import HifisynthError

from .tiny import (TINY_DIM, check_padded_batch_equals_one_by_one, frames_for, speechlike,
                   tiny_generator, tiny_model)

transformers = pytest.importorskip("transformers")

from synth.hf_features import HFFeatureExtractor, load_hf_extractor  # noqa: E402

from .hfkit import ARCHS, reference_hidden_states, save_tiny, tiny_config  # noqa: E402


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    """``hf_dir(arch)``: the directory of a tiny model, written once per test module."""
    made: dict[str, Path] = {}

    def get(arch: str) -> Path:
        if arch not in made:
            made[arch] = save_tiny(tmp_path_factory.mktemp(arch) / arch, arch)
        return made[arch]

    return get


def one_line_error(excinfo) -> str:
    assert isinstance(excinfo.value, HifisynthError)
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------- parity
@pytest.mark.parametrize("arch", ARCHS)
def test_layers_equal_transformers_hidden_states(hf_dir, arch):
    ext = load_hf_extractor(hf_dir(arch))
    assert isinstance(ext, FeatureExtractor)
    assert (ext.name, ext.num_layers, ext.dim, ext.hop_length, ext.receptive_field) == \
        (arch, 2, TINY_DIM, 320, 400)
    assert (ext.sample_rate, ext.frame_rate) == (16000, 50.0)
    wav = torch.from_numpy(speechlike(1.3, seed=1))
    hidden = reference_hidden_states(hf_dir(arch), wav)
    outputs = []
    for layer in (1, 2):
        out = ext.extract_list([wav], layer)[0]
        assert out.shape == (frames_for(len(wav)), TINY_DIM) == (64, TINY_DIM)
        torch.testing.assert_close(out, hidden[layer][0], atol=1e-4, rtol=1e-4)
        outputs.append(out)
    assert (outputs[0] - outputs[1]).abs().max() > 0.1  # layers really differ


@pytest.mark.parametrize("arch", ARCHS)
def test_padded_batch_equals_one_by_one(hf_dir, arch):
    check_padded_batch_equals_one_by_one(load_hf_extractor(hf_dir(arch)))


def make_attention_local(model, radius: int = 3):
    """Make each frame's output depend only on nearby frames (for exact window tests).

    WavLM: the relative position bias forbids attending beyond ``radius`` frames. Others:
    zero value projections make the attention output independent of other frames. The
    convolutions over time keep their reach (at most 45 frames here: data2vec-audio's five
    19-tap positional convolutions).
    """
    with torch.no_grad():
        for layer in model.encoder.layers:
            attention = getattr(layer, "attention", None) or layer.self_attn
            if getattr(attention, "rel_attn_embed", None) is not None:
                offsets = torch.arange(-300, 301)
                buckets = attention._relative_positions_bucket(offsets)
                near = set(buckets[offsets.abs() <= radius].tolist())
                for b in range(attention.rel_attn_embed.weight.shape[0]):
                    if b not in near:
                        attention.rel_attn_embed.weight[b] = -1e4
            elif not hasattr(attention, "rel_attn_embed"):
                values = getattr(attention, "v_proj", None) or attention.linear_v
                values.weight.zero_()
                values.bias.zero_()
    return model


@pytest.mark.parametrize("arch", ARCHS)
def test_windows_equal_whole_extraction(hf_dir, arch):
    ext = load_hf_extractor(hf_dir(arch))
    make_attention_local(ext.model)
    model = ext.model
    whole = HFFeatureExtractor(model, arch, ExtractorConfig(chunk_seconds=100.0))
    windowed = HFFeatureExtractor(model, arch, ExtractorConfig(
        chunk_seconds=1.0, context_seconds=1.0, batch_seconds=6.0))
    no_context = HFFeatureExtractor(model, arch, ExtractorConfig(
        chunk_seconds=1.0, context_seconds=0.0, batch_seconds=6.0))
    wav = torch.from_numpy(speechlike(7.3, seed=3))
    wav[:16000] *= 0.05  # a quiet first second: group-norm statistics are the utterance's
    ref = whole.extract_list([wav], 2)[0]
    out = windowed.extract_list([wav], 2)[0]
    assert out.shape == ref.shape == (frames_for(len(wav)), TINY_DIM)
    # 50 frames of context exceed every frame's reach, so every frame matches.
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=1e-5)
    # Without context the windows' edges differ: the test does exercise the cutting.
    assert (no_context.extract_list([wav], 2)[0] - ref).abs().max() > 1e-2


@pytest.mark.parametrize("arch, dtype", [
    ("wavlm", torch.bfloat16), ("conformer-rotary", torch.bfloat16),
    ("data2vec-audio", torch.bfloat16), ("wav2vec2", torch.bfloat16),
    ("conformer-relative", torch.float16)])
def test_low_precision_close_to_float32(hf_dir, arch, dtype):
    wav = torch.from_numpy(speechlike(2.0, seed=9))
    ext = load_hf_extractor(hf_dir(arch))
    ref = ext.extract_list([wav], 2)[0]
    half = load_hf_extractor(hf_dir(arch), dtype=dtype)
    assert half.dtype == dtype
    out = half.extract_list([wav], 2)[0]
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert ((out - ref).norm() / ref.norm()).item() < 0.05
    # Converting an extractor that already ran works too (transformers' rotary table is
    # cached by length only; a stale float32 table used to break a bfloat16 pass).
    moved = ext.to(dtype).extract_list([wav], 2)[0]
    assert ((moved - ref).norm() / ref.norm()).item() < 0.05


def test_processor_normalisation_and_rate_from_preprocessor_config(hf_dir, tmp_path):
    directory = save_tiny(tmp_path / "hubert", "hubert", seed=2)
    processor = transformers.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)
    processor.save_pretrained(directory)
    ext = load_hf_extractor(directory)
    assert ext.config.normalize_waveform and ext.sample_rate == 16000
    wav = speechlike(1.0, seed=4) * 0.3 + 0.05
    inputs = processor(wav, sampling_rate=16000, return_tensors="pt")
    hidden = reference_hidden_states(directory, inputs.input_values[0])
    torch.testing.assert_close(ext.extract_list([torch.from_numpy(wav)], 2)[0], hidden[2][0],
                               atol=1e-4, rtol=1e-4)
    # Without the file: the raw waveform, as kNN-VC feeds WavLM.
    assert not load_hf_extractor(hf_dir("hubert")).config.normalize_waveform


def test_loading_only_the_layers_needed(hf_dir):
    full = load_hf_extractor(hf_dir("conformer-relative"))
    one = load_hf_extractor(hf_dir("conformer-relative"), 1)
    assert one.num_layers == 1 and len(one.model.encoder.layers) == 1
    assert sum(p.numel() for p in one.parameters()) < sum(p.numel() for p in full.parameters())
    wav = torch.from_numpy(speechlike(1.0))
    torch.testing.assert_close(one.extract_list([wav], 1)[0], full.extract_list([wav], 1)[0])
    with pytest.raises(HifisynthError, match=r"layer must be an integer in 1\.\.1"):
        one.extract_list([wav], 2)


def test_a_ctc_checkpoint_loads_as_its_encoder(tmp_path):
    torch.manual_seed(3)
    config = tiny_config("conformer-rotary")
    config.vocab_size = 12
    ctc = transformers.Wav2Vec2ConformerForCTC(config).eval()
    ctc.save_pretrained(tmp_path / "ctc")
    ext = load_hf_extractor(tmp_path / "ctc")
    wav = torch.from_numpy(speechlike(1.0, seed=8))
    with torch.no_grad():
        hidden = ctc.wav2vec2_conformer(wav[None], output_hidden_states=True).hidden_states
    torch.testing.assert_close(ext.extract_list([wav], 2)[0], hidden[2][0], atol=1e-4, rtol=1e-4)


def test_resampling_mono_downmix_and_the_model_left_as_it_was(hf_dir):
    ext = load_hf_extractor(hf_dir("wavlm"))
    wav8k = torch.from_numpy(speechlike(1.2, sample_rate=8000))
    feats, flen = ext.extract(wav8k[None], None, 2, sample_rate=8000)
    assert flen.tolist() == [frames_for(19200)]
    stereo = torch.stack([torch.from_numpy(speechlike(1.0, seed=1)),
                          torch.from_numpy(speechlike(1.0, seed=2, f0=200.0))])
    torch.testing.assert_close(ext.extract(stereo[None], None, 1)[0],
                               ext.extract(stereo.mean(0)[None], None, 1)[0])
    assert len(ext.model.encoder.layers) == 2 and not ext.train().model.training
    assert not any(p.requires_grad for p in ext.parameters())


def test_concurrent_extraction_equals_sequential(hf_dir):
    ext = load_hf_extractor(hf_dir("conformer-rotary"))
    jobs = [(torch.from_numpy(speechlike(s, seed=i)), layer)
            for i, (s, layer) in enumerate([(1.0, 1), (2.3, 2), (0.7, 2), (1.6, 1)] * 2)]
    expected = [ext.extract_list([w], layer)[0] for w, layer in jobs]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda job: ext.extract_list([job[0]], job[1])[0], jobs))
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)


def test_both_backends_are_feature_extractors():
    assert isinstance(SSLFeatureExtractor(tiny_model("wavlm"), "w"), FeatureExtractor)


# ---------------------------------------------------------------------- errors
def test_not_a_model_directory_or_not_a_speech_encoder(tmp_path):
    with pytest.raises(HifisynthError) as err:
        load_hf_extractor(tmp_path)
    assert one_line_error(err) == f"{tmp_path}: not a Hugging Face model directory (no config.json)"
    with pytest.raises(HifisynthError, match="no config.json"):
        load_hf_extractor(tmp_path / "missing")
    text = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                   num_attention_heads=2, intermediate_size=32)
    transformers.BertModel(text).save_pretrained(tmp_path / "bert")
    with pytest.raises(HifisynthError) as err:
        load_hf_extractor(tmp_path / "bert")
    assert one_line_error(err) == (
        f"{tmp_path / 'bert'}: model type 'bert' is not a supported speech encoder (supported: "
        "wav2vec2, hubert, wavlm, wav2vec2-conformer, data2vec-audio)")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "config.json").write_text("{not json")
    with pytest.raises(HifisynthError) as err:
        load_hf_extractor(tmp_path / "junk")
    assert one_line_error(err).startswith(f"{tmp_path / 'junk' / 'config.json'}: cannot read (")
    with pytest.raises(HifisynthError, match="expected a transformers Wav2Vec2Model"):
        HFFeatureExtractor(transformers.BertModel(text), "bert")


def with_config(source: Path, directory: Path, **changes) -> Path:
    """A copy of the model directory ``source`` whose config.json has ``changes``."""
    directory.mkdir()
    config = json.loads((source / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps(dict(config, **changes)))
    (directory / "model.safetensors").write_bytes((source / "model.safetensors").read_bytes())
    return directory


def test_weights_that_are_missing_or_do_not_fit(hf_dir, tmp_path):
    no_weights = with_config(hf_dir("wavlm"), tmp_path / "no-weights")
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(HifisynthError) as err:
        load_hf_extractor(no_weights)
    assert one_line_error(err).startswith(f"{no_weights}: cannot load the weights (")
    deeper = with_config(hf_dir("wavlm"), tmp_path / "deeper", num_hidden_layers=3)
    with pytest.raises(HifisynthError) as err:
        load_hf_extractor(deeper)
    assert re.fullmatch(rf"{re.escape(str(deeper))}: weights do not fit config.json: \d+ missing "
                        r"\(e\.g\. encoder\.layers\.2\..*\)", one_line_error(err))
    wider = with_config(hf_dir("wavlm"), tmp_path / "wider", intermediate_size=48)
    with pytest.raises(HifisynthError) as err:
        load_hf_extractor(wider)
    assert one_line_error(err) == (
        f"{wider}: weights do not fit config.json: 6 with the wrong shape (e.g. "
        "encoder.layers.0.feed_forward.intermediate_dense.bias: expected (48,), got (64,))")


def test_bin_weights_that_would_inflate_are_refused_before_transformers_reads_them(hf_dir,
                                                                                  tmp_path):
    from tests.hostile import zip_bomb

    bomb = with_config(hf_dir("wavlm"), tmp_path / "bomb")
    (bomb / "model.safetensors").unlink()
    zip_bomb(bomb / "pytorch_model.bin", inflated=64 << 20)
    with pytest.raises(HifisynthError) as err:
        load_hf_extractor(bomb)
    message = one_line_error(err)
    assert message.startswith(f"{bomb / 'pytorch_model.bin'}: refused"), message
    assert "compressed" in message or "deflated" in message, message


def test_layer_and_audio_errors(hf_dir):
    ext = load_hf_extractor(hf_dir("conformer-relative"))
    for layer in (0, 3, -1, 1.5, True):
        with pytest.raises(HifisynthError) as err:
            ext.extract(torch.zeros(1, 16000), None, layer)
        assert one_line_error(err).startswith("layer must be an integer in 1..2 (the output of "
                                              "that transformer layer, counting from 1) for "
                                              "conformer-relative, got ")
    with pytest.raises(HifisynthError) as err:
        load_hf_extractor(hf_dir("conformer-relative"), 3)
    assert one_line_error(err) == (f"layer must be an integer in 1..2 (the encoder layers of "
                                   f"{hf_dir('conformer-relative')}), got 3")
    with pytest.raises(HifisynthError) as err:
        ext.extract_list([torch.zeros(500), torch.zeros(399)], 1)
    assert one_line_error(err) == ("waveform 1 has 399 samples at 16000 Hz; conformer-relative "
                                   "needs at least 400 (25.0 ms) for one frame")


# ---------------------------------------------------------------------- kNN-VC on top
def test_knnvc_voice_from_a_conformer(hf_dir, tmp_path):
    ext = load_hf_extractor(hf_dir("conformer-relative"))
    target = build_matching_set(ext, [speechlike(2.0, seed=4, f0=220.0),
                                      (speechlike(1.5, sample_rate=8000, seed=5, f0=230.0), 8000)],
                                layer=2)
    assert (target.model, target.layer, target.dim, target.frame_rate) == \
        ("conformer-relative", 2, TINY_DIM, 50.0)
    target.save(tmp_path / "voice.pt")
    target = MatchingSet.load(tmp_path / "voice.pt", model=ext.name, layer=2, dim=ext.dim)

    source = speechlike(1.2, seed=6)
    query = ext.extract_list([torch.from_numpy(source)], 2)[0]
    matched = knn_regress(query, target, k=4)
    assert matched.shape == query.shape
    # Every converted frame is a mean of 4 target frames.
    nearest = torch.cdist(matched, target.features.float()).min(dim=1).values
    assert (nearest < (query - matched).norm(dim=1)).float().mean() > 0.5

    vc = KnnVC(ext, tiny_generator(TINY_DIM, (10, 8, 4)), config=KnnVCConfig(layer=2))
    out = vc.convert(source, target)
    assert vc.sample_rate == 16000
    assert out.dtype == np.float32 and out.shape == (frames_for(len(source)) * 320,)
    assert np.isfinite(out).all() and np.abs(out).max() > 0
    # Feature files for a feature vocoder: samples // 320 frames on the 50 Hz grid.
    (aligned,) = extract_aligned(ext, [torch.from_numpy(source)], 2)
    assert aligned.shape == (len(source) // 320, TINY_DIM)
    with pytest.raises(MatchingSetError, match=r"made with model 'conformer-relative' "
                                               r"\(expected 'other'\)"):
        MatchingSet.load(tmp_path / "voice.pt", model="other")
