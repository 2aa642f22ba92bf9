"""Running each family's own published code (in the side environments that
``scripts/upstream_envs.sh`` builds) to make reference files and outputs for the parity tests.

The environments live in ``$HIFISYNTH_UPSTREAM_VENVS`` (default ``<repo>/.venv-upstream``);
the first test that needs one builds them (about half a minute with a warm package cache)
when ``scripts/test.sh`` has not already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, speechlike

UPSTREAM = Path(__file__).parent / "upstream"


@pytest.fixture(scope="session")
def upstream_envs() -> Path:
    """The folder holding the ``modern`` and ``pwg`` side environments (built if missing)."""
    root = Path(os.environ.get("HIFISYNTH_UPSTREAM_VENVS", REPO / ".venv-upstream"))
    env = dict(os.environ, HIFISYNTH_UPSTREAM_VENVS=str(root))
    done = subprocess.run(["bash", str(REPO / "scripts" / "upstream_envs.sh"), sys.executable],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def run_reference(envs: Path, env: str, script: str, workdir: Path, spec: dict,
                  seconds: float = 1.0, sample_rate: int = 22050) -> dict[str, np.ndarray]:
    """Write ``audio.npy`` (speech-like, ``seconds`` long) into ``workdir``, run
    ``upstream/<script>`` with the ``env`` environment's Python there, and return the arrays
    it wrote (``mel``: its mel of the audio, ``wav``: its waveform of that mel)."""
    workdir.mkdir(parents=True, exist_ok=True)
    np.save(workdir / "audio.npy", speechlike(seconds, sample_rate))
    python = envs / env / "bin" / "python"
    done = subprocess.run([str(python), str(UPSTREAM / script), str(workdir), json.dumps(spec)],
                          cwd=UPSTREAM, capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert done.returncode == 0, f"{script} failed:\n{done.stderr[-4000:]}"
    return {name: np.load(workdir / f"{name}.npy") for name in ("audio", "mel", "wav")}


def assert_mel_close(ours: np.ndarray, ref: np.ndarray, floor: float | None) -> None:
    """Same shape, and within 1e-4 wherever the reference is above ``floor`` (the log-mel
    of -7 in the family's units; ``None``: everywhere)."""
    assert ours.shape == ref.shape
    mask = np.ones_like(ref, dtype=bool) if floor is None else ref > floor
    assert mask.mean() > 0.3, "too little of the mel above the floor to compare"
    np.testing.assert_allclose(ours[mask], ref[mask], atol=1e-4, rtol=0)


def assert_wav_close(ours: np.ndarray, ref: np.ndarray) -> None:
    """Same length, within 1e-4, and a reference that is neither silent nor saturated (so the
    comparison says something)."""
    assert ours.shape == ref.shape
    assert ref.std() > 0.02 and (np.abs(ref) > 0.99).mean() < 0.05
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=0)


def _check_loaded(loaded, family: str, ref: dict[str, np.ndarray], mel_floor: float | None,
                  trim_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The loaded vocoder's family, its mel of the reference audio and its waveform of the
    reference mel, checked against the reference; returns both."""
    import torch

    assert loaded.family == family
    with torch.inference_mode():
        mel = loaded.frontend(torch.from_numpy(ref["audio"])).numpy()
    assert_mel_close(mel, ref["mel"], mel_floor)
    wav = loaded.vocoder(torch.from_numpy(ref["mel"]).unsqueeze(0))[0].numpy()
    cut = trim_frames * loaded.vocoder.upsample_factor
    assert_wav_close(wav, ref["wav"][cut: len(ref["wav"]) - cut])
    return mel, wav


def check_against_reference(path: Path, family: str, ref: dict[str, np.ndarray],
                            mel_floor: float | None, trim_frames: int = 0):
    """Load ``path`` (family detected from its files), check its mel and waveform against the
    reference, then convert it to the published layout and check the converted vocoder gives
    the same waveform. ``trim_frames``: frames of padding whose samples the upstream code
    leaves at each end of its output. Returns the loaded vocoder."""
    import torch

    from vocoder.checkpoint import detect_family, load_vocoder, save_converted

    assert detect_family(path) == family
    loaded = load_vocoder(path)
    mel, wav = _check_loaded(loaded, family, ref, mel_floor, trim_frames)
    frames = torch.from_numpy(ref["mel"]).unsqueeze(0)
    if loaded.hifigan is not None:
        converted = save_converted(loaded, path.parent / "converted")
        again = load_vocoder(converted)
        assert again.family == "hifigan"
        np.testing.assert_allclose(again.vocoder(frames)[0].numpy(), wav, atol=1e-5, rtol=0)
        with torch.inference_mode():
            np.testing.assert_allclose(again.frontend(torch.from_numpy(ref["audio"])).numpy(),
                                       mel, atol=1e-5, rtol=0)
    return loaded


def publish(server, folder: Path, names: list[str], archive: str | None = None) -> list[dict]:
    """Registry ``files`` serving the toolkit's files in ``folder`` from ``server`` as the
    toolkit publishes them: each file on its own, or all of them in one archive (``"tar.gz"``
    or ``"zip"``) under a top folder, as ParallelWaveGAN's and Coqui's releases are packed."""
    import io
    import tarfile
    import zipfile

    if archive is None:
        for name in names:
            server.files[f"/{folder.name}/{name}"] = (folder / name).read_bytes()
        return [{"filename": n, "urls": [server.url(f"{folder.name}/{n}")]} for n in names]
    buffer = io.BytesIO()
    if archive == "zip":
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in names:
                zf.write(folder / name, f"release/{name}")
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
            for name in names:
                tf.add(folder / name, f"release/{name}")
    filename = f"{folder.name}.{archive}"
    server.files[f"/{filename}"] = buffer.getvalue()
    return [{"filename": filename, "urls": [server.url(filename)], "unpack": True}]


def check_download_by_name(server, workdir: Path, family: str, names: list[str],
                           ref: dict[str, np.ndarray], mel_floor: float | None, *,
                           main: str, archive: str | None = None, mel_preset: str | None = None,
                           trim_frames: int = 0):
    """The files the toolkit wrote, served over HTTP in its published packaging and listed in
    a registry by name: downloaded (an archive unpacked) into a cache, loaded by name with the
    registry's family and mel, they give the reference's mel and waveform. Returns the
    loaded vocoder."""
    from vocoder.models import ModelCache, ModelRegistry, load_named_vocoder

    entry = {"name": f"tiny-{family}", "kind": "mel_vocoder", "family": family,
             "files": publish(server, workdir, names, archive), "main": main,
             "mel_preset": mel_preset, "licence": "test", "source": "test"}
    (workdir / "registry").mkdir()
    registry = workdir / "registry" / "models.json"
    registry.write_text(json.dumps({"format": 2, "models": [entry]}))
    cache = ModelCache(ModelRegistry.load(registry), workdir / "home", progress=False)
    assert cache.status(entry["name"]).state == "missing"
    loaded = load_named_vocoder(cache, entry["name"])
    assert cache.status(entry["name"]).state == "verified"
    assert cache.cache_path(entry["name"]).parent == workdir / "home" / "models" / entry["name"]
    _check_loaded(loaded, family, ref, mel_floor, trim_frames)
    return loaded
