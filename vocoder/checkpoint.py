"""Loading and saving generator checkpoints in the published formats.

One entry point, :func:`load_generator`, detects which of these a file is:

``hifigan``
    published training checkpoint ``g_XXXXXXXX``: ``{"generator": state_dict}`` with
    weight-norm parameters ``weight_g`` / ``weight_v`` (jik876/hifi-gan, kNN-VC);
``hifigan-parametrized``
    the same saved by newer PyTorch: ``parametrizations.weight.original0`` / ``original1``;
``plain``
    a state dict without weight norm, bare or under ``"generator"`` (torchaudio's
    HiFiGANVocoder, or a generator exported for inference).

A feature-input (kNN-VC) vocoder is any of these with ``lin_pre`` weights; its config has
``hubert_dim`` / ``hifi_dim``. Files are read with ``torch.load(weights_only=True)``: a
checkpoint that would execute code when unpickled is refused (tensors, plain containers and
numpy numbers and arrays are accepted, as ESPnet's and Coqui's training files hold them).

The vocoders other toolkits publish (SpeechBrain, ESPnet/ParallelWaveGAN, Coqui TTS, BigVGAN,
TorchScript exports) are families (:mod:`vocoder.families`): :func:`detect_family` names a
file's family from the files beside it, and :func:`load_vocoder` loads any of them with the
mel frontend it expects.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from torch import Tensor

from .atomic import make_dir, save_torch
from .errors import InputError, shown
from .config import ConfigError, HiFiGANConfig, PRESETS, preset
from .generator import HiFiGANGenerator
from .weightnorm import current_weight_norm_names, legacy_weight_norm_names
from .safeload import MAX_CHECKPOINT_BYTES, TorchFileError, torch_load

if TYPE_CHECKING:
    from .families.loaded import LoadedVocoder

class CheckpointError(InputError):
    """A checkpoint that cannot be loaded; the message names the file and the reason."""


def is_torchscript(path: str | os.PathLike) -> bool:
    """Whether a file is a TorchScript archive (``torch.jit.save``): a zip with code."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names)


def read_checkpoint(path: str | os.PathLike, *, max_bytes: int = MAX_CHECKPOINT_BYTES,
                    finite: bool = True) -> dict[str, Any]:
    """``torch.load`` a checkpoint safely (tensors, plain containers, numpy numbers) onto the
    CPU, through :func:`vocoder.safeload.torch_load`.

    Refused, naming the file, before anything is inflated: a compressed tensor entry or
    entries that overlap (a file made to inflate), more than ``max_bytes`` once loaded; then a
    file that would run code when unpickled (refused as unsafe, naming what it would call), a
    TorchScript archive, and (``finite``) NaN or infinite values in any float tensor.

    Raises:
        CheckpointError: missing, empty, corrupt, inflating, too big, unsafe or non-finite.
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size > 0 and is_torchscript(path):
        raise CheckpointError(f"{shown(path)}: a TorchScript archive, not a state dict; load it "
                              "as the torchscript family")
    try:
        obj = torch_load(path, what="checkpoint", max_bytes=max_bytes, finite=finite)
    except TorchFileError as exc:
        raise CheckpointError(str(exc)) from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{shown(path)}: expected a dict of tensors, got "
                              f"{type(obj).__name__}")
    return obj


def generator_state(obj: Mapping[str, Any], path: str | os.PathLike = "checkpoint"
                    ) -> tuple[dict[str, Tensor], str]:
    """Extract the generator's state dict and name its format (see module docstring).

    Returned keys use the current PyTorch names: weight-norm checkpoints come back with
    ``parametrizations.weight.original0/1``, plain ones with ``weight``.
    """
    state = obj.get("generator", obj)
    if isinstance(state, Mapping) and "state_dict" in state and "conv_pre.bias" not in state:
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not any(str(k).startswith("conv_pre.") for k in state):
        keys = ", ".join(list(map(str, obj.keys()))[:6])
        raise CheckpointError(
            f"{path}: no HiFi-GAN generator found (expected 'conv_pre.*' parameters, "
            f"top-level keys: {keys}); a discriminator checkpoint 'do_*' holds no generator")
    state = {str(k): v for k, v in state.items() if isinstance(v, Tensor)}
    if any(k.endswith(".weight_g") for k in state):
        fmt = "hifigan"
        state = current_weight_norm_names(state)
    elif any(".parametrizations.weight." in k for k in state):
        fmt = "hifigan-parametrized"
    else:
        fmt = "plain"
    return state, fmt


def resolve_config(checkpoint: str | os.PathLike, config: str | os.PathLike | HiFiGANConfig | None
                   ) -> tuple[HiFiGANConfig, str]:
    """The config for a checkpoint and where it came from.

    ``config`` may be a :class:`HiFiGANConfig`, a path to a published ``config.json``, or a
    preset name (``v1``, ``v2``, ``v3``, ``knnvc``). ``None`` looks for ``config.json`` beside
    the checkpoint.
    """
    if isinstance(config, HiFiGANConfig):
        return config, "given config"
    if config is None:
        beside = Path(checkpoint).parent / "config.json"
        if not beside.is_file():
            raise CheckpointError(
                f"{checkpoint}: no config given and no config.json beside it; give the "
                f"published config.json or a preset ({', '.join(PRESETS)})")
        return HiFiGANConfig.load(beside), str(beside)
    if str(config).lower() in PRESETS and not Path(config).is_file():
        return preset(str(config)), f"preset {str(config).lower()}"
    return HiFiGANConfig.load(config), str(config)


def load_generator(
    path: str | os.PathLike,
    config: str | os.PathLike | HiFiGANConfig | None = None,
    *,
    weight_norm: bool = False,
) -> tuple[HiFiGANGenerator, HiFiGANConfig]:
    """Load a generator checkpoint in any supported format, with its config.

    Args:
        path: checkpoint file (``g_XXXXXXXX``, ``*.pt``, ``*.pth``).
        config: config, config path or preset name; default ``config.json`` beside ``path``.
        weight_norm: keep weight norm (for training); by default it is folded for inference.

    Returns:
        The generator in eval mode on the CPU, and its config.

    Raises:
        CheckpointError: missing/corrupt/unsafe file, or shapes that do not fit the config
            (the message names the first mismatching parameter with both shapes).
        ConfigError: an unreadable or invalid config file.
    """
    state, fmt = generator_state(read_checkpoint(path), path)
    cfg, cfg_source = resolve_config(path, config)
    has_wn = fmt != "plain"
    generator = HiFiGANGenerator(cfg.generator, weight_norm=has_wn)
    check_fits(generator, state, path, cfg_source)
    generator.load_state_dict(state)
    if has_wn and not weight_norm:
        generator.remove_weight_norm()
    elif weight_norm and not has_wn:
        from torch.nn.utils.parametrizations import weight_norm as wn

        for conv in generator._convs():
            wn(conv)
    return generator.eval(), cfg


def check_fits(generator: HiFiGANGenerator, state: Mapping[str, Tensor], path: Any,
               cfg_source: str) -> None:
    """Raise :class:`CheckpointError` naming the first parameter of ``state`` that ``generator``
    (built from ``cfg_source``) lacks, does not have, or has in another shape."""
    expected = generator.state_dict()
    if "lin_pre.weight" in state and "lin_pre.weight" not in expected:
        raise CheckpointError(
            f"{path}: this is a feature-input (kNN-VC) vocoder with 'lin_pre' of shape "
            f"{tuple(state['lin_pre.weight'].shape)}, but {cfg_source} describes a mel vocoder; "
            "use a config with 'hubert_dim' and 'hifi_dim' (e.g. the knnvc preset)")
    if "lin_pre.weight" in expected and "lin_pre.weight" not in state:
        raise CheckpointError(
            f"{path}: {cfg_source} describes a feature-input vocoder (hubert_dim/hifi_dim) but "
            "the checkpoint has no 'lin_pre' weights: it is a mel vocoder")
    for key, want in expected.items():
        if key not in state:
            raise CheckpointError(f"{path}: parameter '{key}' missing from the checkpoint "
                                  f"(expected by {cfg_source}); the config does not describe "
                                  "this checkpoint")
        got = state[key]
        if tuple(got.shape) != tuple(want.shape):
            raise CheckpointError(
                f"{path}: parameter '{key}' has shape {tuple(got.shape)} in the checkpoint but "
                f"{tuple(want.shape)} in {cfg_source}")
    extra = [k for k in state if k not in expected]
    if extra:
        raise CheckpointError(f"{path}: unexpected parameter '{extra[0]}' (and {len(extra) - 1} "
                              f"more) not in the generator described by {cfg_source}")


def save_generator(path: str | os.PathLike, generator: HiFiGANGenerator,
                   config: HiFiGANConfig | None = None) -> None:
    """Write ``{"generator": state_dict}`` in the published layout, atomically.

    A weight-norm generator is saved with the published ``weight_g``/``weight_v`` names so
    the published code loads it too. With ``config``, ``config.json`` is written beside it.
    """
    state = {k: v.detach().cpu() for k, v in generator.state_dict().items()}
    state = legacy_weight_norm_names(state)
    save_torch(path, {"generator": state})
    if config is not None:
        config.save(Path(path).parent / "config.json")


# ------------------------------------------------------------------------------- families

def family_names() -> list[str]:
    """The families :func:`load_vocoder` knows, in detection order."""
    from .families import FAMILIES

    return [family.NAME for family in FAMILIES]


def detect_family(path: str | os.PathLike) -> str:
    """The family of a vocoder file, from the file and the files beside it.

    TorchScript archives by their content; SpeechBrain by ``hyperparams.yaml``, ESPnet /
    ParallelWaveGAN by ``config.yml`` (or a ``checkpoint-*.pkl`` name), Coqui TTS and BigVGAN
    by what their ``config.json`` holds; anything else is the published HiFi-GAN layout.
    """
    from .families import FAMILIES

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    return next(family.NAME for family in FAMILIES if family.detect(path))


def load_vocoder(path: str | os.PathLike, family: str | None = None,
                 config: str | os.PathLike | None = None, *, device: str = "cpu",
                 dtype: str = "float32") -> "LoadedVocoder":
    """Load a vocoder of any family with the mel frontend it was trained on.

    Args:
        path: the generator file (``g_XXXXXXXX``, ``generator.ckpt``, ``checkpoint-*.pkl``,
            ``model_file.pth``, ``bigvgan_generator.pt``, a TorchScript ``.pt``...).
        family: a name from :func:`family_names`; default :func:`detect_family`.
        config: the family's config file, or a preset name (a HiFi-GAN preset, or a mel
            preset from :data:`vocoder.mel.MEL_PRESETS` where a family's files do not say
            which mel it uses); default the family's config file beside ``path``.
        device, dtype: where and in which dtype to run (see :class:`vocoder.inference.Vocoder`).

    Returns:
        A :class:`vocoder.families.LoadedVocoder`: ``.vocoder`` (frames -> waveform,
        ``T`` frames give ``T * hop`` samples) and ``.frontend`` (waveform -> those frames).

    Raises:
        CheckpointError, ConfigError: a missing, corrupt, unsafe or mismatched file; an
            unknown family (the message lists the known ones).
    """
    from .families import by_name

    name = family.lower() if family else detect_family(path)
    return by_name(name).load(Path(path), config, device=device, dtype=dtype)


def save_converted(loaded: "LoadedVocoder", out_dir: str | os.PathLike,
                   name: str = "g_00000000") -> Path:
    """Write a HiFi-GAN-shaped vocoder of any family in the published training layout.

    ``OUT/g_00000000`` holds ``{"generator": state_dict}`` with weight norm (``weight_g`` /
    ``weight_v``), ready for fine-tuning; ``OUT/config.json`` holds its shape, audio settings
    and the family's keys (:mod:`vocoder.families.hifigan`), so loading it gives the same
    audio. Returns the generator file's path.

    Raises:
        CheckpointError: a family whose generator is not HiFi-GAN-shaped (BigVGAN,
            TorchScript).
    """
    if loaded.hifigan is None or loaded.generator_state is None:
        raise CheckpointError(f"{loaded.source}: a {loaded.family} vocoder is not HiFi-GAN-"
                              "shaped, so it cannot be written in the HiFi-GAN layout")
    from torch.nn.utils.parametrizations import weight_norm

    generator = HiFiGANGenerator(loaded.hifigan.generator, weight_norm=False)
    generator.load_state_dict(loaded.generator_state)
    for conv in generator._convs():
        weight_norm(conv)
    out = make_dir(out_dir)
    save_generator(out / name, generator, loaded.hifigan)
    return out / name


__all__ = ["CheckpointError", "ConfigError", "check_fits", "detect_family", "family_names",
           "generator_state", "is_torchscript", "legacy_weight_norm_names", "load_generator",
           "load_vocoder", "read_checkpoint", "resolve_config", "save_converted",
           "save_generator"]
