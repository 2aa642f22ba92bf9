"""A tiny two-speaker corpus, a tiny extractor on disk, and a brute-force prematching reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from synth.features import SSLFeatureExtractor, load_extractor

from .tiny import speechlike, tiny_model, tiny_params

# (speaker, chapter, index, seconds, sample rate, channels): lengths with different
# remainders modulo 320 samples, one file at 22.05 kHz and one in stereo.
CORPUS = [
    ("19", "198", 0, 0.93, 16000, 1),
    ("19", "198", 1, 1.21, 16000, 1),
    ("19", "227", 2, 0.71, 22050, 1),
    ("26", "495", 0, 1.07, 16000, 1),
    ("26", "495", 1, 0.88, 16000, 2),
    ("26", "496", 2, 1.33, 16000, 1),
]


def utt_id(speaker: str, chapter: str, index: int) -> str:
    return f"{speaker}-{chapter}-{index:04d}"


def make_corpus(root: Path) -> dict[str, dict]:
    """LibriSpeech-style ``root/<speaker>/<chapter>/<speaker>-<chapter>-<n>.wav``.

    Returns ``{id: {"path", "speaker", "samples16k"}}`` (samples once resampled to 16 kHz).
    """
    out = {}
    for n, (speaker, chapter, index, seconds, rate, channels) in enumerate(CORPUS):
        f0 = 110.0 if speaker == "19" else 190.0
        wav = speechlike(seconds, rate, seed=n, f0=f0 + 7 * index)
        if channels == 2:
            wav = np.stack([wav, 0.5 * wav], axis=1)
        path = root / speaker / chapter / f"{utt_id(speaker, chapter, index)}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), wav, rate, subtype="FLOAT")
        samples = int(seconds * rate)
        samples16 = samples if rate == 16000 else int(np.ceil(samples * 16000 / rate))
        out[path.stem] = {"path": path, "speaker": speaker, "samples16k": samples16}
    return out


def write_tiny_extractor(directory: Path) -> tuple[Path, Path]:
    """``(weights.pth, tiny_wavlm.json)``: a tiny WavLM's state dict and its architecture."""
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / "tiny_wavlm.pth"
    arch = directory / "tiny_wavlm.json"
    torch.save(tiny_model("wavlm").state_dict(), weights)
    arch.write_text(json.dumps(dict(tiny_params("wavlm"), model_type="wavlm")))
    return weights, arch


def load_tiny_extractor(weights: Path, arch: Path) -> SSLFeatureExtractor:
    """The extractor the commands build from ``--extractor weights --extractor-arch arch``."""
    return load_extractor(json.loads(arch.read_text()), weights, name=arch.stem)


def brute_force_prematch(features: dict[str, torch.Tensor], speakers: dict[str, str],
                         k: int = 4, pools: dict[str, int] | None = None
                         ) -> dict[str, torch.Tensor]:
    """For each utterance: cosine distances (float64, normalised dot products) to every frame
    of the OTHER utterances of its speaker (and of its pool, if ``pools`` gives one per id),
    the ``k`` smallest, their mean."""
    out = {}
    for uid, query in features.items():
        others = [j for j in sorted(features) if j != uid and speakers[j] == speakers[uid]
                  and (pools is None or pools[j] == pools[uid])]
        keys = torch.cat([features[j] for j in others]).double()
        q = query.double()
        cos = (q / q.norm(dim=1, keepdim=True)) @ (keys / keys.norm(dim=1, keepdim=True)).T
        nearest = np.argsort((1 - cos).numpy(), axis=1, kind="stable")[:, :k]
        out[uid] = keys[torch.from_numpy(nearest)].mean(dim=1)
    return out
