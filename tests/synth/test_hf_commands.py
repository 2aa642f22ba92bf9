"""A Hugging Face model directory wherever an extractor is taken: the hub's loader, `synth
features` (transformers' hidden states), `synth prematch`, voices, conversion, text to speech
in a voice and batch, with their errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from synth.audio import load_mono
from synth.cli import main
from synth.featurefiles import read_features
from synth.hub import ModelHub, ModelSpec
from synth.knnvc import KnnVC, KnnVCConfig, MatchingSet
from synth.loaders import feature_extractor_spec
from synth.models import ModelCache, ModelRegistry
from vocoder.audio import load_audio
from vocoder.checkpoint import load_generator

from .corpuskit import brute_force_prematch, make_corpus
from .tiny import TINY_DIM, speechlike

transformers = pytest.importorskip("transformers")

from synth.hf_features import HFFeatureExtractor, load_hf_extractor  # noqa: E402

from .hfkit import reference_hidden_states, save_tiny  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SR = 16000


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The tiny corpus, a tiny relative-position Wav2Vec2-Conformer directory and a tiny
    feature vocoder (x320, 16 kHz, 32-dim input) saved with its config.json."""
    from tests.synth.pipeline_models import save_tiny_vc_models

    root = tmp_path_factory.mktemp("hf-commands")
    return {"root": root, "corpus": make_corpus(root / "corpus"),
            "conformer": save_tiny(root / "conformer", "conformer-relative"),
            "vc_vocoder": save_tiny_vc_models(root / "vc")["vc_vocoder"]}


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch) -> None:
    """An empty model cache, offline."""
    monkeypatch.delenv("HIFISYNTH_REGISTRY", raising=False)
    monkeypatch.setenv("HIFISYNTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HIFISYNTH_OFFLINE", "1")


def synth(*args) -> int:
    try:
        return main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code)


def error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("synth: error: ")
    return lines[0].removeprefix("synth: error: ")


# ---------------------------------------------------------------------- the hub's loader
def test_hub_loads_a_directory_with_only_the_layers_used(setup, tmp_path):
    directory = setup["conformer"]
    hub = ModelHub(ModelCache(ModelRegistry([]), tmp_path / "home"), device="cpu")
    spec = feature_extractor_spec(directory, "WAVLM_LARGE", layer=1)
    assert spec == ModelSpec("feature_extractor", str(directory), None, (("layer", 1),))
    one = hub.load(spec)
    assert isinstance(one, HFFeatureExtractor) and one.num_layers == 1
    assert (one.name, one.dim, one.frame_rate) == ("conformer", TINY_DIM, 50.0)
    both = hub.load(feature_extractor_spec(directory))
    assert both.num_layers == 2 and hub.load(spec) is one
    wav = torch.from_numpy(speechlike(1.0, seed=2))
    torch.testing.assert_close(one.extract_list([wav], 1)[0], both.extract_list([wav], 1)[0])
    # A file keeps its architecture; a folder without config.json says what it lacks.
    assert feature_extractor_spec(tmp_path / "w.pth", "HUBERT_BASE", 6).config == "HUBERT_BASE"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: not a Hugging Face model directory "
                                         r"\(no config.json\)"):
        hub.load(feature_extractor_spec(tmp_path / "empty"))


# ---------------------------------------------------------------------- synth features
@pytest.mark.parametrize("layer", [1, 2])
def test_features_command_gives_transformers_hidden_states(setup, tmp_path, layer):
    directory, corpus = setup["conformer"], setup["corpus"]
    out = tmp_path / "feats"
    assert synth("features", "--input-wavs", setup["root"] / "corpus", "--recursive",
                 "--output-dir", out, "--save-dtype", "float32", "--extractor", directory,
                 "--layer", layer, "--quiet") == 0
    info = json.loads((out / "features.json").read_text())
    assert (info["model"], info["layer"], info["dim"]) == ("conformer", layer, TINY_DIM)
    for uid, item in corpus.items():
        feats = np.load(out / f"{uid}.npy")
        assert feats.shape == (item["samples16k"] // 320, TINY_DIM)
        # transformers' own forward of the 16 kHz mono audio, zero-padded at the end as the
        # command pads it (frame i starts at sample 320 i), gives the same hidden_states[layer].
        wav = load_mono(item["path"], SR)
        wav = torch.nn.functional.pad(wav, (0, max(0, 80 - wav.shape[0] % 320)))
        hidden = reference_hidden_states(directory, wav)[layer][0]
        torch.testing.assert_close(torch.from_numpy(feats), hidden, atol=1e-4, rtol=1e-4)


def test_prematch_extracts_from_a_directory_on_the_fly(setup, tmp_path):
    root, directory = setup["root"], setup["conformer"]
    model = ["--extractor", directory, "--layer", 2, "--quiet"]
    assert synth("features", "--input-wavs", root / "corpus", "--recursive", "--output-dir",
                 tmp_path / "feats", "--save-dtype", "float32", *model) == 0
    assert synth("prematch", "--input-wavs", root / "corpus", "--recursive",
                 "--speaker-from-dir", 2, "--output-dir", tmp_path / "pm", "--save-dtype",
                 "float32", *model) == 0
    feats = {uid: read_features(tmp_path / "feats" / f"{uid}.npy") for uid in setup["corpus"]}
    speakers = {uid: item["speaker"] for uid, item in setup["corpus"].items()}
    for uid, ref in brute_force_prematch(feats, speakers, k=4).items():
        torch.testing.assert_close(read_features(tmp_path / "pm" / f"{uid}.npy").double(), ref,
                                   atol=1e-4, rtol=0)
    assert json.loads((tmp_path / "pm" / "features.json").read_text())["model"] == "conformer"


def test_directory_option_errors(setup, tmp_path, capsys):
    directory = setup["conformer"]
    base = ["features", "--input-wavs", setup["root"] / "corpus", "--recursive", "--output-dir",
            tmp_path / "out", "--quiet", "--extractor"]
    assert synth(*base, directory, "--extractor-arch", "HUBERT_BASE") == 2
    assert error_line(capsys) == ("--extractor-arch goes with an --extractor file, not a model "
                                  "directory (its config.json gives the architecture)")
    assert synth(*base, directory, "--layer", 3) == 2
    assert error_line(capsys) == (f"--layer 3: layer must be an integer in 1..2 (the encoder "
                                  f"layers of {directory}), got 3")
    assert synth(*base, directory) == 2  # kNN-VC's layer 6 by default
    assert error_line(capsys).startswith("--layer (default 6): layer must be an integer in 1..2")
    (tmp_path / "plain").mkdir()
    assert synth(*base, tmp_path / "plain", "--layer", 2) == 2
    assert error_line(capsys) == f"{tmp_path / 'plain'}: not a Hugging Face model directory " \
                                 "(no config.json)"
    assert not (tmp_path / "out").exists()
    assert synth("convert", setup["corpus"]["19-198-0000"]["path"], "--reference",
                 setup["corpus"]["19-198-0001"]["path"], "-o", tmp_path / "c.wav",
                 "--extractor", directory, "--extractor-arch", "WAVLM_LARGE",
                 "--vc-vocoder", setup["vc_vocoder"]) == 2
    assert "--extractor-arch goes with an --extractor file" in error_line(capsys)


def test_commands_keep_transformers_quiet(setup, tmp_path):
    """A CTC checkpoint: transformers would print its load report and a progress bar."""
    config = transformers.Wav2Vec2ConformerConfig.from_pretrained(setup["conformer"])
    config.vocab_size = 12
    torch.manual_seed(0)
    transformers.Wav2Vec2ConformerForCTC(config).save_pretrained(tmp_path / "ctc")
    env = {k: v for k, v in os.environ.items()
           if k not in ("TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS")}
    result = subprocess.run(
        [sys.executable, "-m", "synth", "features", "--input-wavs",
         str(setup["root"] / "corpus" / "26"), "--recursive", "--output-dir",
         str(tmp_path / "out"), "--extractor", str(tmp_path / "ctc"), "--layer", "2",
         "--quiet"], capture_output=True, text=True, timeout=300, cwd=REPO,
        env=dict(env, PYTHONPATH=str(REPO)))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["synth features: 3 feature file(s) written to "
                                          f"{tmp_path / 'out'} (3 utterance(s) in all)"]


# ---------------------------------------------------------------------- voices and conversion
def test_voice_convert_tts_and_batch_with_a_directory(setup, tmp_path, capsys):
    directory, corpus = setup["conformer"], setup["corpus"]
    vc = ["--extractor", directory, "--layer", 2, "--vc-vocoder", setup["vc_vocoder"]]
    refs = [corpus[uid]["path"] for uid in ("26-495-0000", "26-495-0001", "26-496-0002")]
    src = corpus["19-198-0001"]["path"]
    voice = tmp_path / "voice.pt"
    assert synth("voice", *refs, "-o", voice, *vc) == 0
    assert "conformer layer 2" in capsys.readouterr().out
    matching = MatchingSet.load(voice, model="conformer", layer=2, dim=TINY_DIM)
    assert synth("convert", src, "--voice", voice, "-o", tmp_path / "c.wav", *vc) == 0

    # The same conversion through the Python API, with the model loaded by hand.
    generator, _ = load_generator(setup["vc_vocoder"])
    api = KnnVC(load_hf_extractor(directory), generator, config=KnnVCConfig(layer=2))
    expected = api.convert(src, matching)
    converted, rate = load_audio(tmp_path / "c.wav")
    assert rate == SR and converted.shape == expected.shape == \
        (((corpus["19-198-0001"]["samples16k"] - 400) // 320 + 1) * 320,)
    np.testing.assert_allclose(converted, np.clip(expected, -1, 1), atol=2e-4)

    assert synth("tts", "Hello there.", "--voice", voice, "--vocoder", "none", "-o",
                 tmp_path / "t.wav", *vc) == 0
    assert load_audio(tmp_path / "t.wav")[1] == SR
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "a", "source": str(src), "voice": str(voice)}) + "\n")
    assert synth("batch", manifest, "--output-dir", tmp_path / "out", "--vocoder", "none",
                 "--quiet", *vc) == 0
    np.testing.assert_array_equal(load_audio(tmp_path / "out" / "a.wav")[0], converted)
    capsys.readouterr()
    # A voice is refused by another layer of the same model.
    assert synth("convert", src, "--voice", voice, "-o", tmp_path / "c1.wav",
                 *vc[:2], "--layer", 1, *vc[4:]) == 2
    assert "made with layer 2 (expected 1)" in error_line(capsys)
