"""The HiFi-GAN-family vocoders other toolkits publish, one module per family.

Each module reads its toolkit's file layout and model differences and binds the toolkit's
mel definition to the vocoder (see each module's docstring):

================  ==========================================  ==============================
family            files                                       mel
================  ==========================================  ==============================
``torchscript``   a ``torch.jit.save`` archive (+config.json)  from its config
``speechbrain``   ``generator.ckpt`` + ``hyperparams.yaml``    torchaudio's, centred, ln
``espnet``        ``checkpoint-*.pkl`` + ``config.yml``        log10, centred, (x-mean)/scale
                  + ``stats.h5`` / ``stats.npy``
``coqui``         ``model_file.pth`` + ``config.json``         dB, normalised to [-4, 4]
``bigvgan``       ``bigvgan_generator.pt`` + ``config.json``   HiFi-GAN's
``hifigan``       ``g_*`` / torchaudio / kNN-VC + config.json  HiFi-GAN's
================  ==========================================  ==============================

A family's vocoder takes that mel as its frames, whoever made it (its own frontend, or a TTS
system of the same toolkit writing ``.npy`` files): ESPnet's takes the raw log10 mel and
normalises it with its statistics itself. :attr:`LoadedVocoder.silence` is the value that mel
takes for digital silence (``log(1e-5)`` for the natural-log mels, ``-10`` for ESPnet's,
``-max_norm`` for Coqui's published normalisation): what padding frames hold.

Each module has ``NAME``, ``detect(path) -> bool`` (from the file and its neighbours, without
loading it) and ``load(path, config, *, device, dtype) -> LoadedVocoder``. The entry points
are :func:`vocoder.checkpoint.detect_family` and :func:`vocoder.checkpoint.load_vocoder`.
"""

from __future__ import annotations

from types import ModuleType

from ..checkpoint import CheckpointError
from . import bigvgan, coqui, espnet, hifigan, speechbrain, torchscript
from .loaded import LoadedVocoder

#: Detection order: the first family whose ``detect`` accepts a file is its family.
FAMILIES: tuple[ModuleType, ...] = (torchscript, speechbrain, espnet, coqui, bigvgan, hifigan)


def by_name(name: str) -> ModuleType:
    """The family module called ``name``."""
    for family in FAMILIES:
        if family.NAME == name:
            return family
    raise CheckpointError(f"unknown vocoder family {name!r}; choose one of "
                          f"{', '.join(f.NAME for f in FAMILIES)}")


__all__ = ["FAMILIES", "LoadedVocoder", "by_name"]
