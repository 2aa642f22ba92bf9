"""Other toolkits' vocoders by registry name, through the pipeline, the commands and the app:
each is downloaded from a local HTTP server in its toolkit's packaging, and audio, text and
batch sources go through the mel it expects, batches padded with that mel's silence."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from synth.batch import BatchRunner, BatchSummary, read_manifest, shard_items
from synth.cli import main as synth_main
from tests.conftest import run_cli, speechlike, tiny_config, write_wav
from tests.synth.pipeline_models import make_synth
from tests.vocoder.families.conftest import publish
from tests.vocoder.families.layouts import espnet_files, speechbrain_files
from vocoder.audio import load_audio
from vocoder.checkpoint import load_vocoder
from vocoder.chunking import LOG_FLOOR
from vocoder.mel import CenteredLogMel
from vocoder.models import ModelCache, ModelRegistry

SR, HOP = 16000, 64


@pytest.fixture
def families(tmp_path, model_server, monkeypatch) -> dict:
    """A tiny SpeechBrain vocoder (two files) and a tiny ESPnet one (a tar.gz of checkpoint,
    config.yml and stats.h5), served over HTTP and named ``tiny-sb`` / ``tiny-esp`` in a
    registry the environment points at (``HIFISYNTH_REGISTRY``, an empty ``HIFISYNTH_HOME``)."""
    sb, _ = speechbrain_files(tmp_path / "sb", tiny_config("2"), sample_rate=SR)
    esp, _ = espnet_files(tmp_path / "esp", tiny_config("2"), seed=1)
    common = {"kind": "mel_vocoder", "licence": "test", "source": "test"}
    entries = [
        {**common, "name": "tiny-sb", "family": "speechbrain", "main": "generator.ckpt",
         "files": publish(model_server, sb.parent, ["generator.ckpt", "hyperparams.yaml"])},
        {**common, "name": "tiny-esp", "family": "espnet", "main": "checkpoint-*.pkl",
         "files": publish(model_server, esp.parent,
                          ["checkpoint-10steps.pkl", "config.yml", "stats.h5"], "tar.gz")}]
    registry = tmp_path / "models.json"
    registry.write_text(json.dumps({"format": 2, "models": entries}))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "HIFISYNTH_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HIFISYNTH_REGISTRY", str(registry))
    monkeypatch.setenv("HIFISYNTH_HOME", str(tmp_path / "home"))
    cache = ModelCache(ModelRegistry.load(registry), tmp_path / "home", progress=False)
    return {"sb": sb, "esp": esp, "cache": cache, "registry": registry}


def test_pipeline_by_name_uses_each_familys_mel(families) -> None:
    synth = make_synth("tiny-sb", cache=families["cache"])
    wav = speechlike(0.5, SR)
    frontend = synth.mel_frontend()
    assert isinstance(frontend, CenteredLogMel) and frontend.name == "speechbrain"
    mel = synth.mel(wav).cpu()
    assert mel.shape == (20, 1 + len(wav) // HOP)  # centred frames, not HiFi-GAN's n // hop
    result = synth.resynthesize(wav, sample_rate=SR)
    assert result.sample_rate == SR and len(result.audio) == (1 + len(wav) // HOP) * HOP
    direct = load_vocoder(families["sb"])  # the same files, loaded directly
    with torch.inference_mode():
        want = direct.vocoder(direct.frontend(torch.from_numpy(wav)).unsqueeze(0))[0].numpy()
    keep = len(want) - direct.vocoder.context_frames * HOP  # the end hears padding silence
    np.testing.assert_allclose(result.audio[:keep], want[:keep], atol=1e-5, rtol=0)
    spoken = synth.speak("Hello.")  # text goes through the same mel
    assert len(spoken.audio) % HOP == 0 and spoken.sample_rate == SR
    # a vocoder of another family chosen per call: ESPnet's raw log10 mel
    esp = synth.loaded_vocoder("tiny-esp")
    assert esp.family == "espnet" and esp.frontend.log_base == "10"
    assert synth.mel(wav, vocoder="tiny-esp").shape == (20, 1 + len(wav) // HOP)
    assert families["cache"].status("tiny-esp").state == "verified"


@pytest.mark.parametrize("name, silence", [("tiny-esp", -10.0), ("tiny-sb", LOG_FLOOR)])
def test_batches_are_padded_with_the_silence_of_the_familys_mel(families, name, silence) -> None:
    synth = make_synth(name, cache=families["cache"], chunk_frames=10_000)
    loaded = synth.loaded_vocoder()
    assert loaded.silence == pytest.approx(silence)
    with torch.inference_mode():  # digital silence through the family's mel is that value
        assert torch.allclose(loaded.frontend(torch.zeros(4000)), torch.tensor(silence))
    rng = np.random.default_rng(0)
    mels = [(silence + 4 + rng.standard_normal((20, n))).astype(np.float32) for n in (30, 75)]
    batched = synth.vocode_frames(mels)
    voc, context = loaded.vocoder, loaded.vocoder.context_frames
    for mel, wav in zip(mels, batched):
        with_silence = torch.cat([torch.from_numpy(mel),
                                  torch.full((20, context), silence)], dim=1)
        want = voc(with_silence.unsqueeze(0))[0, : mel.shape[1] * HOP].numpy()
        np.testing.assert_allclose(wav, want, atol=1e-5, rtol=0)
    if name == "tiny-esp":  # the natural-log floor would be another signal in a log10 mel
        other = torch.cat([torch.from_numpy(mels[0]), torch.full((20, context), LOG_FLOOR)], 1)
        assert np.abs(voc(other.unsqueeze(0))[0, : 30 * HOP].numpy() - batched[0]).max() > 1e-3


def test_batch_sources_through_a_family_vocoder(families, tmp_path) -> None:
    synth = make_synth("tiny-sb", cache=families["cache"])
    rows = []
    for i, seconds in enumerate([0.3, 0.8, 0.45]):
        write_wav(tmp_path / "clips" / f"c{i}.wav", speechlike(seconds, SR, seed=i), SR)
        rows.append(json.dumps({"id": f"c{i}", "source": f"clips/c{i}.wav"}))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(rows))
    summary = BatchSummary(str(manifest), str(tmp_path / "out"), (0, 1))
    BatchRunner(synth, tmp_path / "out", progress=False, report=lambda line: None,
                batch_size=8).run(shard_items(read_manifest(manifest), 0, 1), summary)
    assert sorted(summary.done_ids) == ["c0", "c1", "c2"]
    for i, seconds in enumerate([0.3, 0.8, 0.45]):
        wav, sr = load_audio(tmp_path / "out" / f"c{i}.wav")
        alone = synth.resynthesize(tmp_path / "clips" / f"c{i}.wav").audio
        assert sr == SR and len(wav) == (1 + int(seconds * SR) // HOP) * HOP == len(alone)
        assert np.abs(wav - np.clip(alone, -1, 1)).max() <= 1 / 32767 + 1e-6


def test_commands_take_family_models_by_name(families, tmp_path, capsys) -> None:
    src = write_wav(tmp_path / "src.wav", speechlike(0.5, 22050), 22050)
    out = tmp_path / "re.wav"
    assert synth_main(["resynth", str(src), "-o", str(out), "--vocoder", "tiny-sb"]) == 0
    wav, sr = load_audio(out)
    assert sr == SR and len(wav) == (1 + 8000 // HOP) * HOP
    mel = np.full((20, 40), -6.0, np.float32)  # a raw log10 mel for the ESPnet vocoder
    np.save(tmp_path / "mel.npy", mel)
    assert synth_main(["vocode", str(tmp_path / "mel.npy"), "-o", str(tmp_path / "v.wav"),
                       "--vocoder", "tiny-esp"]) == 0
    assert load_audio(tmp_path / "v.wav")[0].shape == (40 * HOP,)
    capsys.readouterr()
    wavs = tmp_path / "wavs"
    write_wav(wavs / "a.wav", speechlike(0.5, SR), SR)
    res = run_cli("vocoder", "infer", "--checkpoint", "tiny-esp", "--input-wavs", wavs,
                  "--output-dir", tmp_path / "infer")
    assert res.returncode == 0, res.stderr
    assert load_audio(tmp_path / "infer" / "a.wav")[0].shape == ((1 + 8000 // HOP) * HOP,)
    res = run_cli("vocoder", "mel", "--checkpoint", "tiny-sb", "--input-wavs", wavs,
                  "--output-dir", tmp_path / "mels")
    assert res.returncode == 0, res.stderr
    assert np.load(tmp_path / "mels" / "a.npy").shape == (20, 1 + 8000 // HOP)
    res = run_cli("vocoder", "infer", "--checkpoint", "tiny-sbb", "--input-wavs", wavs,
                  "--output-dir", tmp_path / "x")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1] == (
        "vocoder: error: unknown model 'tiny-sbb': did you mean 'tiny-sb'? known models are "
        "tiny-sb, tiny-esp (or give the path of a local file)")


def test_the_app_downloads_and_takes_uploads_of_family_vocoders(families, tmp_path) -> None:
    from synth.pipeline import SynthConfig
    from synth.service import ServiceConfig, SynthService
    from synth.uploads import UploadError

    models_dir = tmp_path / "models"
    for name in ("generator.ckpt", "hyperparams.yaml"):  # a SpeechBrain folder, as published
        (models_dir / "sb").mkdir(parents=True, exist_ok=True)
        (models_dir / "sb" / name).write_bytes((families["sb"].parent / name).read_bytes())
    config = ServiceConfig(synth=SynthConfig(vocoder="griffinlim"), device="cpu",
                           voices_dir=tmp_path / "voices", temp_dir=tmp_path / "temp",
                           models_dir=models_dir)
    service = SynthService(config, families["cache"])
    clip = write_wav(tmp_path / "a.wav", speechlike(1.0, SR), SR)
    assert service.catalog.model_files() == ["sb/generator.ckpt"]
    wav, notes = service.vocoder(str(clip), None, "sb/generator.ckpt")
    assert "through its speechbrain mel" in notes
    assert len(load_audio(wav)[0]) == (1 + SR // HOP) * HOP
    # Models tab: listed with family and size, downloaded by name, then a vocoder choice.
    rows = {r[0]: r for r in service.models()}
    assert rows["tiny-esp"][1:4] == ["mel vocoder (espnet)", "?", "missing"]
    note, table = service.download_model("tiny-esp")
    assert note.startswith("downloaded **tiny-esp** (") and "checkpoint-10steps.pkl" in note
    assert {r[0]: r for r in table}["tiny-esp"][3] == "verified"
    assert ("tiny-esp (downloaded)", "tiny-esp") in service.catalog.vocoder_choices()
    wav, notes = service.vocoder(str(clip), None, "tiny-esp")
    assert "through its espnet mel" in notes
    assert len(load_audio(wav)[0]) == (1 + SR // HOP) * HOP
    # Vocoder tab: an uploaded SpeechBrain checkpoint with its hyperparams.yaml; an ESPnet one
    # with config.yml and stats.h5 (as uploads arrive: each file in a folder of its own).
    uploads = tmp_path / "uploads"
    for i, path in enumerate([families["sb"], families["sb"].parent / "hyperparams.yaml",
                              families["esp"], families["esp"].parent / "config.yml",
                              families["esp"].parent / "stats.h5"]):
        (uploads / str(i)).mkdir(parents=True)
        (uploads / str(i) / path.name).write_bytes(path.read_bytes())
    up = [uploads / str(i) / p for i, p in enumerate(
        ["generator.ckpt", "hyperparams.yaml", "checkpoint-10steps.pkl", "config.yml",
         "stats.h5"])]
    wav, notes = service.vocoder(str(clip), None, "default", str(up[0]), [str(up[1])], "")
    assert "by the uploaded checkpoint generator.ckpt" in notes and "speechbrain mel" in notes
    assert len(load_audio(wav)[0]) == (1 + SR // HOP) * HOP
    wav, notes = service.vocoder(str(clip), None, "default", str(up[2]),
                                 [str(up[3]), str(up[4])], "")
    assert "through its espnet mel" in notes
    held = sorted(h.spec.label for h in service.hub.held())
    service.vocoder(str(clip), None, "default", str(up[0]), [str(up[1])], "")  # held: same files
    assert sorted(h.spec.label for h in service.hub.held()) == held
    with pytest.raises(UploadError, match=r"checkpoint \(generator.ckpt\): .*num_mels=80 input "
                                          "channels, but the generator expects 20"):
        service.vocoder(str(clip), None, "default", str(up[0]), [str(up[1])], "speechbrain-16k")
    with pytest.raises(UploadError, match=r"config \(evil.sh\): expected a config, hyperparameter "
                                          "or statistics file"):
        (tmp_path / "evil.sh").write_text("rm -rf /")
        service.vocoder(str(clip), None, "default", str(up[0]), [str(tmp_path / "evil.sh")], "")
    staged = list((tmp_path / "temp" / "checkpoints").iterdir())
    assert len(staged) == 2 and all(str(tmp_path / "temp") not in n for n in notes.split())
