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
    assert loaded.family == family
    with torch.inference_mode():
        mel = loaded.frontend(torch.from_numpy(ref["audio"])).numpy()
    assert_mel_close(mel, ref["mel"], mel_floor)
    frames = torch.from_numpy(ref["mel"]).unsqueeze(0)
    wav = loaded.vocoder(frames)[0].numpy()
    cut = trim_frames * loaded.vocoder.upsample_factor
    assert_wav_close(wav, ref["wav"][cut: len(ref["wav"]) - cut])
    if loaded.hifigan is not None:
        converted = save_converted(loaded, path.parent / "converted")
        again = load_vocoder(converted)
        assert again.family == "hifigan"
        np.testing.assert_allclose(again.vocoder(frames)[0].numpy(), wav, atol=1e-5, rtol=0)
        with torch.inference_mode():
            np.testing.assert_allclose(again.frontend(torch.from_numpy(ref["audio"])).numpy(),
                                       mel, atol=1e-5, rtol=0)
    return loaded
