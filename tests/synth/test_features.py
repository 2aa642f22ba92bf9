"""SSL feature extraction: layer numbering, lengths, batching, chunking, resampling, loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from synth.audio import resample_tensor
from synth.features import (ExtractorConfig, FeatureError, SSLFeatureExtractor, build_model,
                            load_extractor, load_state_dict_file)

from .tiny import (FAMILIES, TINY_DIM, TINY_LAYERS, check_padded_batch_equals_one_by_one,
                   frames_for, make_attention_local, speechlike, tiny_model, tiny_params)


@pytest.mark.parametrize("family", FAMILIES)
def test_layers_match_torchaudio_extract_features(family):
    model = tiny_model(family)
    ext = SSLFeatureExtractor(model, family)
    assert (ext.num_layers, ext.dim, ext.hop_length, ext.receptive_field) == (2, TINY_DIM, 320, 400)
    assert ext.frame_rate == 50.0
    wav = torch.from_numpy(speechlike(1.0))
    with torch.no_grad():
        ref, _ = model.extract_features(wav[None])
    for layer in range(1, TINY_LAYERS + 1):
        feats, lengths = ext.extract(wav[None], None, layer)
        assert feats.shape == (1, frames_for(16000), TINY_DIM) == (1, 49, TINY_DIM)
        assert lengths.tolist() == [49]
        torch.testing.assert_close(feats[0], ref[layer - 1][0], atol=2e-5, rtol=1e-5)
    # Different layers really are different outputs.
    assert not torch.allclose(ext.extract(wav[None], None, 1)[0], ext.extract(wav[None], None, 2)[0])


@pytest.mark.parametrize("family", FAMILIES)
def test_padded_batch_equals_one_by_one(family):
    ext = SSLFeatureExtractor(tiny_model(family), family)
    check_padded_batch_equals_one_by_one(ext)
    assert ext.extract(torch.zeros(1, 4000), None, 2)[0].shape[-1] == TINY_DIM


@pytest.mark.parametrize("family", ["wavlm", "wav2vec2"])
def test_chunked_matches_whole_away_from_edges(family):
    model = make_attention_local(tiny_model(family))
    whole = SSLFeatureExtractor(model, family, ExtractorConfig(chunk_seconds=100.0))
    chunked = SSLFeatureExtractor(model, family, ExtractorConfig(
        chunk_seconds=1.0, context_seconds=0.4, batch_seconds=3.6))
    no_context = SSLFeatureExtractor(model, family, ExtractorConfig(
        chunk_seconds=1.0, context_seconds=0.0, batch_seconds=3.6))
    wav = torch.from_numpy(speechlike(7.3, seed=3))
    ref = whole.extract_list([wav], 2)[0]
    out = chunked.extract_list([wav], 2)[0]
    assert out.shape == ref.shape == (frames_for(len(wav)), TINY_DIM)
    # Frames see at most 8 (positional conv) + 2 * 3 (attention) frames around them, less than
    # the 20 frames of context, so every frame matches.
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=1e-5)
    # Without context the windows' edges differ: the test does exercise the cutting.
    bad = no_context.extract_list([wav], 2)[0]
    assert (bad - ref).abs().max() > 1e-2


def test_chunked_batch_mixes_long_and_short_items():
    model = make_attention_local(tiny_model("wavlm"))
    whole = SSLFeatureExtractor(model, "w", ExtractorConfig(chunk_seconds=100.0))
    chunked = SSLFeatureExtractor(model, "w", ExtractorConfig(
        chunk_seconds=0.8, context_seconds=0.4, batch_seconds=4.0))
    wavs = [torch.from_numpy(speechlike(s, seed=i)) for i, s in enumerate([5.0, 0.5, 3.1])]
    for a, b in zip(chunked.extract_list(wavs, 1), whole.extract_list(wavs, 1)):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-5)


def test_group_norm_uses_whole_utterance_statistics():
    # A Base (group-norm) model normalises its first conv output over the whole utterance:
    # windows must use those statistics, not their own.
    model = make_attention_local(tiny_model("wavlm_base"))
    wav = torch.from_numpy(speechlike(6.0, seed=5))
    wav[:16000] *= 0.05  # a quiet first second changes the utterance statistics
    ref = SSLFeatureExtractor(model, "b", ExtractorConfig(chunk_seconds=100.0)).extract_list([wav], 2)[0]
    out = SSLFeatureExtractor(model, "b", ExtractorConfig(
        chunk_seconds=1.0, context_seconds=0.4, batch_seconds=2.0)).extract_list([wav], 2)[0]
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=1e-5)


def test_resampling_and_mono_downmix():
    ext = SSLFeatureExtractor(tiny_model("wavlm"), "w")
    wav8k = torch.from_numpy(speechlike(1.2, sample_rate=8000))
    feats, flen = ext.extract(wav8k[None], None, 2, sample_rate=8000)
    expected, _ = ext.extract(resample_tensor(wav8k, 8000, 16000)[None], None, 2)
    assert flen.tolist() == [frames_for(19200)]
    torch.testing.assert_close(feats, expected)
    # Lengths are rescaled with the audio.
    padded = torch.zeros(2, 9600)
    padded[0] = wav8k
    padded[1, :4000] = wav8k[:4000]
    _, flen2 = ext.extract(padded, [9600, 4000], 2, sample_rate=8000)
    assert flen2.tolist() == [frames_for(19200), frames_for(8000)]
    # (batch, channels, samples): channels are averaged.
    left = torch.from_numpy(speechlike(1.0, seed=1))
    right = torch.from_numpy(speechlike(1.0, seed=2, f0=200.0))
    stereo, _ = ext.extract(torch.stack([left, right])[None], None, 1)
    mono, _ = ext.extract(((left + right) / 2)[None], None, 1)
    torch.testing.assert_close(stereo, mono)


def test_normalize_waveform_option():
    model = tiny_model("hubert")
    plain = SSLFeatureExtractor(model, "h")
    norm = SSLFeatureExtractor(model, "h", ExtractorConfig(normalize_waveform=True))
    wav = torch.from_numpy(speechlike(1.0))
    assert not torch.allclose(norm.extract_list([wav], 1)[0], plain.extract_list([wav], 1)[0])
    normalised = torch.nn.functional.layer_norm(wav, wav.shape)
    torch.testing.assert_close(norm.extract_list([wav], 1)[0],
                               plain.extract_list([normalised], 1)[0])


def test_bad_inputs_give_clear_errors():
    ext = SSLFeatureExtractor(tiny_model("wavlm"), "tiny-wavlm")
    wav = torch.zeros(1, 16000)
    for layer in (0, 3, -1, 1.5):
        with pytest.raises(FeatureError, match=r"layer must be an integer in 1\.\.2"):
            ext.extract(wav, None, layer)
    with pytest.raises(FeatureError, match=r"waveform 1 has 399 samples .* at least 400 \(25\.0 ms\)"):
        ext.extract_list([torch.zeros(500), torch.zeros(399)], 1)
    with pytest.raises(FeatureError, match=r"lengths\[1\] = 0 is outside 1\.\.16000"):
        ext.extract(torch.zeros(2, 16000), [16000, 0], 1)
    with pytest.raises(FeatureError, match="empty batch"):
        ext.extract(torch.zeros(0, 16000), None, 1)
    assert ext.extract_list([], 1) == []
    with pytest.raises(FeatureError, match="one entry per waveform"):
        ext.extract(torch.zeros(2, 16000), [16000], 1)
    with pytest.raises(FeatureError, match="expected float samples"):
        ext.extract_list([torch.zeros(16000, dtype=torch.int16)], 1)
    with pytest.raises(FeatureError, match="context_seconds must be >= 0"):
        ExtractorConfig(context_seconds=-1).validate()


def test_model_stays_in_eval_mode_and_frozen():
    ext = SSLFeatureExtractor(tiny_model("wav2vec2"), "w").train()
    assert not ext.model.training
    assert not any(p.requires_grad for p in ext.parameters())
    wav = torch.from_numpy(speechlike(1.0))
    a, b = ext.extract_list([wav], 2)[0], ext.extract_list([wav], 2)[0]
    assert torch.equal(a, b)  # no dropout


def test_state_dict_file_round_trip(tmp_path):
    model = tiny_model("wavlm", seed=7)
    arch = dict(tiny_params("wavlm"), model_type="wavlm")
    path = tmp_path / "tiny.pth"
    torch.save(model.state_dict(), path)
    ext = load_extractor(arch, path)
    assert ext.name == "tiny"
    wav = torch.from_numpy(speechlike(1.0))
    ref = SSLFeatureExtractor(model, "x").extract_list([wav], 2)[0]
    torch.testing.assert_close(ext.extract_list([wav], 2)[0], ref)
    # A state dict saved from a bundle's wrapped model has keys prefixed "model.".
    wrapped = tmp_path / "wrapped.pth"
    torch.save({f"model.{k}": v for k, v in model.state_dict().items()}, wrapped)
    assert set(load_state_dict_file(wrapped)) == set(model.state_dict())
    torch.testing.assert_close(load_extractor(arch, wrapped, name="n").extract_list([wav], 2)[0], ref)
    # torchaudio's published files store the positional conv's weight norm as weight_g/weight_v.
    legacy_state = {k.replace("parametrizations.weight.original0", "weight_g")
                     .replace("parametrizations.weight.original1", "weight_v"): v
                    for k, v in model.state_dict().items()}
    assert "encoder.transformer.pos_conv_embed.conv.weight_g" in legacy_state
    torch.save(legacy_state, tmp_path / "legacy.pth")
    torch.testing.assert_close(load_extractor(arch, tmp_path / "legacy.pth").extract_list([wav], 2)[0], ref)


def test_weights_that_do_not_fit_name_the_file(tmp_path):
    path = tmp_path / "tiny.pth"
    torch.save(tiny_model("wavlm").state_dict(), path)
    other = dict(tiny_params("wavlm"), model_type="wavlm", encoder_embed_dim=48)
    with pytest.raises(FeatureError, match=r"tiny\.pth: weights do not fit .* wrong shape"):
        load_extractor(other, path)
    with pytest.raises(FeatureError, match=r"tiny\.pth: weights do not fit .* missing"):
        load_extractor(dict(tiny_params("wav2vec2"), model_type="wav2vec2"), path)
    torch.save({"cfg": {}, "model": {"encoder.layers.0.self_attn.k_proj.weight": torch.zeros(2)}},
               tmp_path / "WavLM-Large.pt")
    with pytest.raises(FeatureError, match=r"WavLM-Large\.pt: .*fairseq / Microsoft WavLM"):
        load_extractor(dict(tiny_params("wavlm"), model_type="wavlm"), tmp_path / "WavLM-Large.pt")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(FeatureError, match=r"junk\.pth: not a PyTorch weights file, or the "
                                           r"file is corrupt"):
        load_extractor(dict(tiny_params("wavlm"), model_type="wavlm"), tmp_path / "junk.pth")
    with pytest.raises(FeatureError, match=r"missing\.pth: weights file not found"):
        load_extractor(dict(tiny_params("wavlm"), model_type="wavlm"), tmp_path / "missing.pth")


def test_bundle_without_weights_file_explains_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FeatureError) as err:
        load_extractor("WAVLM_LARGE")
    message = str(err.value)
    assert "https://download.pytorch.org/torchaudio/models/wavlm_large.pth" in message
    assert str(tmp_path / "hub" / "checkpoints" / "wavlm_large.pth") in message
    with pytest.raises(FeatureError, match="unknown model architecture 'WAVLM_HUGE'"):
        load_extractor("WAVLM_HUGE")


def test_bundle_architectures_are_built_from_bundle_params(tmp_path):
    model = build_model("hubert_base")  # same as HUBERT_BASE
    ext = SSLFeatureExtractor(model, "HUBERT_BASE")
    assert (ext.num_layers, ext.dim, ext.hop_length, ext.receptive_field) == (12, 768, 320, 400)
    assert model.aux is None
    path = tmp_path / "tiny.pth"
    torch.save(tiny_model("wav2vec2").state_dict(), path)
    with pytest.raises(FeatureError, match=r"tiny\.pth: weights do not fit"):
        load_extractor("HUBERT_BASE", path)


def _hf_configs(transformers):
    common = dict(hidden_size=TINY_DIM, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
                  num_conv_pos_embedding_groups=4)
    return {
        "wav2vec2": (transformers.Wav2Vec2Config(**common), transformers.Wav2Vec2Model),
        "hubert": (transformers.HubertConfig(**common), transformers.HubertModel),
        "wavlm-large-style": (transformers.WavLMConfig(**common, feat_extract_norm="layer",
                                                       do_stable_layer_norm=True, conv_bias=True),
                              transformers.WavLMModel),
    }


@pytest.mark.parametrize("kind", ["wav2vec2", "hubert", "wavlm-large-style"])
def test_layer_n_is_transformers_hidden_states_n(kind):
    # torchaudio's importer turns a transformers model into a torchaudio one; every layer of
    # the torchaudio backend then equals transformers' hidden_states[n], the last layer of a
    # pre-LN model included (transformers >= 5 records it before the final layer norm).
    transformers = pytest.importorskip("transformers")
    from torchaudio.models.wav2vec2.utils import import_huggingface_model

    config, cls = _hf_configs(transformers)[kind]
    torch.manual_seed(0)
    original = cls(config).eval()
    with torch.no_grad():
        for p in original.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ext = SSLFeatureExtractor(import_huggingface_model(original).eval(), kind)
    assert ext.dim == TINY_DIM and ext.num_layers == 2
    wav = torch.from_numpy(speechlike(1.0))
    with torch.no_grad():
        out = original(wav[None], output_hidden_states=True)
    for layer in (1, 2):
        torch.testing.assert_close(ext.extract_list([wav], layer)[0], out.hidden_states[layer][0],
                                   atol=2e-5, rtol=1e-5)
    if config.do_stable_layer_norm:  # the final norm is in last_hidden_state only
        assert (out.last_hidden_state - out.hidden_states[2]).abs().max() > 0.1


@pytest.mark.parametrize("family", ["wavlm", "wav2vec2"])
def test_bfloat16_extractor_gives_float32_close_to_float32(family):
    model = tiny_model(family)
    wav = torch.from_numpy(speechlike(2.0, seed=9))
    ref = SSLFeatureExtractor(model, family).extract_list([wav], 2)[0]
    half = SSLFeatureExtractor(tiny_model(family), family).to(torch.bfloat16)
    out = half.extract_list([wav], 2)[0]
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert ((out - ref).norm() / ref.norm()).item() < 0.05


def test_architecture_table_matches_torchaudio_bundles():
    # Our table replaces torchaudio's private bundle attributes; this test (only) reads them to
    # check that every bundle of the installed torchaudio is in the table with its weights
    # file, its sample rate and an architecture of the same parameter shapes.
    import os

    import torchaudio
    from torchaudio.pipelines import Wav2Vec2Bundle

    from synth.features import architecture, bundle_names, weights_url

    bundles = {n: getattr(torchaudio.pipelines, n) for n in dir(torchaudio.pipelines)
               if isinstance(getattr(torchaudio.pipelines, n), Wav2Vec2Bundle)}
    assert bundle_names() == sorted(bundles)
    for name, bundle in bundles.items():
        assert os.path.basename(weights_url(name)) == os.path.basename(bundle._path), name
        assert architecture(name).sample_rate == bundle.sample_rate, name
        with torch.device("meta"):
            ours = build_model(name.lower())
            factory = (torchaudio.models.wavlm_model if bundle._model_type == "WavLM"
                       else torchaudio.models.wav2vec2_model)
            theirs = factory(**dict(bundle._params, aux_num_out=None))
        assert {k: v.shape for k, v in ours.state_dict().items()} == \
            {k: v.shape for k, v in theirs.state_dict().items()}, name
        assert type(ours.encoder.transformer.layers[0].attention) is \
            type(theirs.encoder.transformer.layers[0].attention), name
        assert ours.encoder.transformer.layer_norm_first == \
            theirs.encoder.transformer.layer_norm_first, name
    with pytest.raises(FeatureError, match="unknown model architecture"):
        build_model("WAVLM_GIANT")


# ---------------------------------------------------------------------- registry extractors
SHIPPED_EXTRACTORS = ["wavlm-large", "wavlm-base", "wavlm-base-plus", "hubert-base",
                      "hubert-large", "wav2vec2-base", "wav2vec2-large-lv60k", "wav2vec2-xlsr53",
                      "wav2vec2-xlsr-300m"]


def shipped_registry():
    from synth.models import ModelRegistry

    return ModelRegistry.load(Path(__file__).resolve().parents[2] / "assets" / "models.json")


def test_shipped_feature_extractors():
    registry = shipped_registry()
    extractors = [e for e in registry if e.kind == "feature_extractor"]
    assert [e.name for e in extractors] == SHIPPED_EXTRACTORS
    # kNN-VC's layer is recorded only where it is published (WavLM-Large layer 6).
    assert {e.name: e.extractor_architecture()[2] for e in extractors
            if e.config.get("knnvc_layer")} == {"wavlm-large": 6}
    # Nothing is published but the files: sizes are estimates, hashes recorded on first use.
    assert {e.name: e.size_text for e in extractors} == {
        name: "~360.1 MiB" if "base" in name else "~1.2 GiB" for name in SHIPPED_EXTRACTORS}
    for entry in extractors:
        assert entry.sha256 is None and "not published" in entry.sha256_note
        assert entry.size is None and f"{entry.approx_size:,}" in entry.size_note
        assert entry.licence == "MIT" and entry.licence_url and entry.source


@pytest.mark.parametrize("name", SHIPPED_EXTRACTORS)
def test_shipped_extractor_entry_matches_its_torchaudio_bundle(name):
    # The bundle's private attributes are read here only, to check the registry against them.
    import torchaudio

    entry = shipped_registry().get(name)
    bundle = getattr(torchaudio.pipelines, entry.config["torchaudio_bundle"])
    expected = {k: [list(t) for t in v] if k == "extractor_conv_layer_config" else v
                for k, v in bundle._params.items()}
    assert entry.config["params"] == dict(expected, aux_num_out=None)
    assert entry.urls == ("https://download.pytorch.org/torchaudio/models/" + bundle._path,)
    assert entry.filename == bundle._path
    assert entry.config["sample_rate"] == bundle.sample_rate == 16000
    assert entry.config["normalize_waveform"] == bundle._normalize_waveform
    assert entry.config["feature_dim"] == expected["encoder_embed_dim"]
    assert f"({expected['encoder_num_layers']} layers, {expected['encoder_embed_dim']}-dim" \
        in entry.description
    arch, arch_name, _ = entry.extractor_architecture()
    assert arch == arch_name == entry.config["torchaudio_bundle"]
    with torch.device("meta"):
        model = build_model(arch)
    weights = sum(t.numel() * 4 for t in model.state_dict().values())
    assert weights < entry.approx_size < weights * 1.001
