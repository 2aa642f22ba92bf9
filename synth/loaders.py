"""The kinds of component :class:`synth.hub.ModelHub` can load, one loader each.

A loader is ``loader(hub, spec) -> component``: it finds the file through
:meth:`ModelHub.resolve <synth.hub.ModelHub.resolve>` (registry names are fetched and checked
there, after their kind is checked), builds the component and puts it on ``hub.device``.
The hub keeps what loaders return and knows nothing else about them, so a new kind (an
acoustic model, another feature backend) is one function here, added to :data:`LOADERS`, or
given to :meth:`ModelHub.register <synth.hub.ModelHub.register>`.

=====================  =====================================================  ==========================================
kind                   source                                                 component
=====================  =====================================================  ==========================================
``mel_vocoder``        registry name, or checkpoint path of any family        :class:`~vocoder.families.LoadedVocoder`:
                       (``config``: the family's config file or a preset;     ``.vocoder`` and the ``.frontend`` that
                       default: the files beside it), or ``griffinlim``       makes the mel it takes
                       (``config``: the mel settings; option ``n_iter``)
``feature_vocoder``    registry name or checkpoint path (``config``: its      :class:`~vocoder.generator.HiFiGANGenerator`
                       ``config.json`` or a preset)
``feature_extractor``  registry name or weights path (``config``: a           :class:`~synth.features.SSLFeatureExtractor`
                       torchaudio bundle name, or a JSON file of factory      (float32)
                       arguments); or a Hugging Face model directory          or :class:`~synth.hf_features.HFFeatureExtractor`
                       (option ``layer``: keep layers ``1..layer``)
``base_voice``         an espeak-ng voice name (option ``rate``, words per    :class:`~synth.text.EspeakVoice`
                       minute)
``acoustic_model``     registry name (its config: ``symbols``, ``mel``,       :class:`~synth.acoustic.tacotron2.Tacotron2Acoustic`
                       ``params``), or a torchaudio Tacotron2 ``.pth`` path   (float32): text -> mel
                       (shapes read from it; the LJSpeech HiFi-GAN mel)
=====================  =====================================================  ==========================================
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vocoder.errors import InputError

from .defaults import DEFAULT_EXTRACTOR_ARCH, GRIFFINLIM
from .hub import Loader, ModelSpec
from .models import ModelKindError

if TYPE_CHECKING:
    from vocoder.families.loaded import LoadedVocoder

    from .hub import ModelHub


def load_mel_vocoder(hub: "ModelHub", spec: ModelSpec) -> "LoadedVocoder":
    """A mel vocoder of any family with the mel frontend it expects, in the hub's dtype
    (:func:`vocoder.models.load_resolved_vocoder`: a registry entry's family and config, or
    detected from the files beside a checkpoint, ``spec.config`` overriding), or Griffin-Lim
    (float32, inverting HiFi-GAN's mel) for ``griffinlim``."""
    from vocoder.config import AudioConfig
    from vocoder.families.loaded import LoadedVocoder
    from vocoder.griffinlim import GriffinLimVocoder
    from vocoder.mel import HiFiGANMel
    from vocoder.models import load_resolved_vocoder

    if spec.source.lower() == GRIFFINLIM:
        audio = AudioConfig() if spec.config is None else _hifigan_config(spec.config).audio
        voc = GriffinLimVocoder(audio, n_iter=int(spec.option("n_iter", 32)), device=hub.device)
        return LoadedVocoder(voc, HiFiGANMel(audio).to(hub.device), GRIFFINLIM, GRIFFINLIM)
    resolved = hub.resolve(spec)
    loaded = load_resolved_vocoder(resolved, None, spec.config, device=str(hub.device),
                                   dtype=str(hub.dtype).removeprefix("torch."))
    if loaded.frontend is None:
        raise ModelKindError(f"{resolved.path}: a feature-input (kNN-VC) vocoder cannot vocode "
                             "mels; it is for voice conversion", model=spec.label,
                             kind="feature_vocoder", expected="mel_vocoder")
    return replace(loaded, generator_state=None)  # a copy of the weights only conversion needs


def load_feature_vocoder(hub: "ModelHub", spec: ModelSpec) -> Any:
    """A feature-input (kNN-VC) HiFi-GAN generator in the hub's dtype, frozen."""
    from vocoder.checkpoint import load_generator

    resolved = hub.resolve(spec)
    config: Any = resolved.entry.hifigan_config() if resolved.entry else spec.config
    generator, gen_config = load_generator(resolved.path, config)
    if not gen_config.is_feature_vocoder:
        raise ModelKindError(f"{resolved.path}: a mel vocoder cannot do voice conversion; it "
                             "needs a feature-input (kNN-VC) vocoder", model=spec.label,
                             kind="mel_vocoder", expected="feature_vocoder")
    return generator.to(hub.device, hub.dtype).requires_grad_(False).eval()


def load_feature_extractor(hub: "ModelHub", spec: ModelSpec) -> Any:
    """An SSL feature extractor (float32, on the hub's device): a registry model or a
    torchaudio weights file (:func:`synth.features.load_extractor`), or a Hugging Face model
    directory (:func:`synth.hf_features.load_hf_extractor`; option ``layer``: keep only layers
    ``1..layer``)."""
    directory = hf_directory(hub, spec)
    if directory is not None:
        from .hf_features import load_hf_extractor

        return load_hf_extractor(directory, layer=spec.option("layer"), device=hub.device)
    from .features import load_extractor

    resolved = hub.resolve(spec)
    if resolved.entry is not None:
        arch, name, _ = resolved.entry.extractor_architecture()
    else:
        arch, name = extractor_architecture(spec.config or DEFAULT_EXTRACTOR_ARCH)
    return load_extractor(arch, resolved.path, name=name, device=hub.device)


def load_base_voice(hub: "ModelHub", spec: ModelSpec) -> Any:
    """The espeak-ng voice ``spec.source`` at ``rate`` words per minute (no weights)."""
    from .text import EspeakVoice

    try:
        return EspeakVoice(voice=spec.source, rate=int(spec.option("rate", 175)))
    except ValueError as exc:
        raise InputError(str(exc)) from None


def load_acoustic_model(hub: "ModelHub", spec: ModelSpec) -> Any:
    """A Tacotron2 acoustic model (float32, on the hub's device): a registry entry's file with
    its config (symbols, mel, params), or a local state-dict file
    (:func:`synth.acoustic.tacotron2.load_tacotron2`: symbols from a published file name or
    the embedding's rows, the shapes from its tensors, the LJSpeech HiFi-GAN mel unless it is
    one of torchaudio's WaveRNN-bundle files)."""
    from .acoustic.tacotron2 import load_tacotron2, load_tacotron2_entry

    resolved = hub.resolve(spec)
    if resolved.entry is not None:
        return load_tacotron2_entry(resolved.path, resolved.entry.config or {},
                                    name=resolved.entry.name, device=hub.device)
    return load_tacotron2(resolved.path, name=spec.label, device=hub.device)


def extractor_architecture(text: str) -> tuple[Any, str]:
    """``(arch, name)`` of an extractor given as a file: a torchaudio bundle name (upper
    case), or a JSON file of factory arguments (named by its file stem)."""
    if text.lower().endswith(".json") or "/" in text:
        path = Path(text)
        try:
            arch = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot read the JSON architecture ({exc})") from None
        if not isinstance(arch, dict):
            raise InputError(f"{path}: expected a JSON object of factory arguments")
        return arch, path.stem
    return text.upper(), text.upper()


def is_model_directory(source: str | os.PathLike) -> bool:
    """Whether an extractor source is a folder (a Hugging Face model directory); a registry
    name that is also a folder here is still the registry's (see :func:`hf_directory`)."""
    return Path(os.fspath(source)).expanduser().is_dir()


def hf_directory(hub: "ModelHub", spec: ModelSpec) -> Path | None:
    """The folder ``spec.source`` names, or ``None`` for a registry name or a file."""
    if hub.entry(spec) is not None or not is_model_directory(spec.source):
        return None
    return Path(spec.source).expanduser()


def check_extractor_backend(hub: "ModelHub", spec: ModelSpec) -> None:
    """Fail now, before anything is downloaded, when the backend of a feature extractor
    cannot run: a registry model or weights file needs torchaudio (a missing or mismatched
    one raises :class:`~vocoder.errors.DependencyError`, one line naming both versions); a
    Hugging Face directory needs ``transformers``, checked when it loads (nothing to fetch)."""
    if hf_directory(hub, spec) is None:
        from . import features  # noqa: F401 - importing it checks torchaudio


def feature_extractor_spec(source: str | os.PathLike, arch: str | os.PathLike | None = None,
                           layer: int | None = None) -> ModelSpec:
    """The spec of a feature extractor.

    Args:
        source: a registry name, a torchaudio weights file, or a Hugging Face model directory.
        arch: architecture of a weights file (torchaudio bundle name or JSON file); a
            directory's is in its ``config.json``, so ``arch`` is left out of its spec.
        layer: the layer that will be extracted; a directory's model then keeps only layers
            ``1..layer`` (``None``: all of them).
    """
    if is_model_directory(source):
        return ModelSpec.make("feature_extractor", source,
                              **({} if layer is None else {"layer": int(layer)}))
    return ModelSpec.make("feature_extractor", source, arch)


def default_layer(hub: "ModelHub", spec: ModelSpec) -> int | None:
    """The feature layer a registry extractor's entry records for kNN-VC, if any."""
    entry = hub.entry(spec)
    if entry is None or entry.kind != "feature_extractor":
        return None
    return entry.extractor_architecture()[2]


def _hifigan_config(value: str):
    from vocoder.checkpoint import resolve_config

    return resolve_config("", value)[0]


#: The kinds every hub knows.
LOADERS: dict[str, Loader] = {
    "mel_vocoder": load_mel_vocoder,
    "feature_vocoder": load_feature_vocoder,
    "feature_extractor": load_feature_extractor,
    "base_voice": load_base_voice,
    "acoustic_model": load_acoustic_model,
}

__all__ = ["LOADERS", "check_extractor_backend", "default_layer", "extractor_architecture",
           "feature_extractor_spec", "hf_directory", "is_model_directory", "load_acoustic_model",
           "load_base_voice", "load_feature_extractor", "load_feature_vocoder",
           "load_mel_vocoder"]
