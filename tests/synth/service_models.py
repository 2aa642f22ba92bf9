"""Tiny models on disk for the web app and its service, laid out the way an operator has them.

- ``models/tiny/g_00000001`` + ``config.json``: the default mel vocoder (16 kHz, hop 64), in
  the app's ``--models-dir``.
- a registry (``models.json``) with ``tiny-wavlm`` (feature extractor), ``tiny-knnvc``
  (feature vocoder, x320 at 16 kHz) and ``tiny-extra`` (a second mel vocoder), all with
  ``file://`` URLs so the cache downloads them for real. The voice conversion pair is
  downloaded into the cache here; ``tiny-extra`` is left for the app's Models tab.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from synth.models import ModelCache, ModelRegistry
from tests.synth.pipeline_models import registry_file, save_tiny_mel_vocoder, save_tiny_vc_models

SR = 16000  # every tiny model's rate
MEL_HOP = 64
VC_HOP = 320


@dataclass
class AppModels:
    """Where the tiny models are."""

    root: Path
    models_dir: Path
    vocoder: Path  # default mel vocoder (inside models_dir)
    registry: Path
    home: Path  # HIFISYNTH_HOME (the VC pair already cached)

    @property
    def vocoder_rel(self) -> str:
        return self.vocoder.relative_to(self.models_dir).as_posix()


def build_app_models(root: Path) -> AppModels:
    models_dir = root / "models"
    vocoder = save_tiny_mel_vocoder(models_dir / "tiny", seed=0)
    source = root / "published"  # what the file:// URLs serve
    entries = save_tiny_vc_models(source / "vc")["entries"]
    extra = save_tiny_mel_vocoder(source / "extra", resblock="2", seed=1)
    entries.append({"name": "tiny-extra", "kind": "mel_vocoder", "filename": "g_00000001",
                    "urls": [extra.as_uri()], "config": str(extra.parent / "config.json")})
    registry = registry_file(root, entries)
    home = root / "home"
    cache = ModelCache(ModelRegistry.load(registry), home, progress=False)
    for name in ("tiny-wavlm", "tiny-knnvc"):
        cache.download(name)
    return AppModels(root=root, models_dir=models_dir, vocoder=vocoder, registry=registry,
                     home=home)
