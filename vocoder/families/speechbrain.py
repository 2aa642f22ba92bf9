"""SpeechBrain's HiFi-GAN (``speechbrain.lobes.models.HifiGAN.HifiganGenerator``).

Files: ``generator.ckpt`` (the generator's state dict) and ``hyperparams.yaml`` beside it, as
published for ``speechbrain/tts-hifigan-ljspeech``, ``-libritts-16kHz`` and
``-libritts-22050Hz``. What differs from the published HiFi-GAN:

- every convolution is wrapped (``conv_pre.conv.weight``...), and pads its input by
  reflection, not zeros (SpeechBrain's ``Conv1d(padding="same")``);
- inference pads the mel with ``inference_padding`` (5) repeated frames at each end;
  SpeechBrain returns the padded length, here the padding's samples are cut so ``T``
  frames give ``T * hop`` samples aligned with the mel;
- the mel is torchaudio's ``MelSpectrogram`` (centred frames, ``|X|``, Slaney) with
  ``log(clamp(x, 1e-5))``: :class:`vocoder.mel.CenteredLogMel`. The recipes train at
  22.05 kHz (LJSpeech, LibriTTS) or 16 kHz (LibriTTS) with n_fft 1024, hop 256, 80 mels,
  0-8000 Hz; a ``hyperparams.yaml`` that does not state its sample rate is read as
  22.05 kHz unless the ``speechbrain-16k`` mel preset is given.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..checkpoint import CheckpointError, read_checkpoint
from ..config import AudioConfig, ConfigError, GeneratorConfig, HiFiGANConfig
from ..mel import MEL_PRESETS, CenteredLogMel, frontend_spec, mel_preset
from .hifigan import build
from .loaded import LoadedVocoder
from .weights import fold_weight_norm, rename, tensors
from .configfiles import lookup, read_yaml

NAME = "speechbrain"
CONFIG = "hyperparams.yaml"


def detect(path: Path) -> bool:
    return (path.parent / CONFIG).is_file()


def _settings(hp: dict[str, Any], source: str) -> tuple[GeneratorConfig, int]:
    def get(key: str, default: Any = None) -> Any:
        value = lookup(hp, key, "generator", default=default)
        if value is None:
            raise ConfigError(f"{source}: '{key}' not found (at the top level or in "
                              "'generator')")
        return value

    if int(get("cond_channels", 0)) != 0:
        raise ConfigError(f"{source}: 'cond_channels' is {get('cond_channels')}: speaker-"
                          "conditioned generators are not supported")
    if int(get("out_channels", 1)) != 1:
        raise ConfigError(f"{source}: 'out_channels' must be 1, got {get('out_channels')}")
    if not get("conv_post_bias", True):
        raise ConfigError(f"{source}: 'conv_post_bias' False is not supported")
    try:
        gen = GeneratorConfig(
            upsample_rates=[int(u) for u in get("upsample_factors")],
            upsample_kernel_sizes=[int(k) for k in get("upsample_kernel_sizes")],
            upsample_initial_channel=int(get("upsample_initial_channel")),
            resblock=str(get("resblock_type")),
            resblock_kernel_sizes=[int(k) for k in get("resblock_kernel_sizes")],
            resblock_dilation_sizes=[[int(d) for d in ds]
                                     for ds in get("resblock_dilation_sizes")],
            in_channels=int(get("in_channels")), conv_padding_mode="reflect")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: generator settings are not numbers ({exc})") from None
    return gen, int(get("inference_padding", 5))


def _mel(hp: dict[str, Any], num_mels: int, source: str) -> CenteredLogMel:
    for key, want in (("power", 1), ("norm", "slaney"), ("mel_scale", "slaney"),
                      ("dynamic_range_compression", True)):
        value = lookup(hp, key)
        if value is not None and value != want:
            raise ConfigError(f"{source}: '{key}' is {value!r}; SpeechBrain's HiFi-GAN mel "
                              f"with {key}={want!r} is the one supported")
    if lookup(hp, "mel_normalized"):
        raise ConfigError(f"{source}: 'mel_normalized' True is not supported")
    try:
        audio = AudioConfig(
            sampling_rate=int(lookup(hp, "sample_rate", default=22050)),
            n_fft=int(lookup(hp, "n_fft", default=1024)),
            hop_size=int(lookup(hp, "hop_length", default=256)),
            win_size=int(lookup(hp, "win_length", default=1024)),
            num_mels=int(lookup(hp, "n_mel_channels", default=num_mels)),
            fmin=float(lookup(hp, "mel_fmin", default=0.0)),
            fmax=float(lookup(hp, "mel_fmax", default=8000.0)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: mel settings are not numbers ({exc})") from None
    audio.validate(source)
    return CenteredLogMel(audio, NAME, "e", 1e-5)


def load(path: Path, config: str | os.PathLike | None, *, device: str = "cpu",
         dtype: str = "float32") -> LoadedVocoder:
    """``generator.ckpt`` with ``hyperparams.yaml`` beside it (or ``config``: another
    hyperparams file, or a mel preset such as ``speechbrain-16k`` that names the mel)."""
    preset = str(config).lower() if config is not None and str(config).lower() in MEL_PRESETS \
        else None
    yaml_path = path.parent / CONFIG if config is None or preset else Path(config)
    if not yaml_path.is_file():
        raise CheckpointError(f"{path}: no {CONFIG} beside it; SpeechBrain's generator "
                              "settings come from it")
    hp = read_yaml(yaml_path)
    generator, edge = _settings(hp, str(yaml_path))
    frontend = mel_preset(preset) if preset else _mel(hp, generator.in_channels, str(yaml_path))
    state = tensors(read_checkpoint(path))
    if not any(k.startswith("conv_pre.") for k in state):
        raise CheckpointError(f"{path}: no SpeechBrain HiFi-GAN generator found (expected "
                              "'conv_pre.conv.*' parameters)")
    state = rename(fold_weight_norm(state), [(r"(.*)\.conv\.(weight|bias)", r"\1.\2")])
    cfg = HiFiGANConfig(audio=frontend.audio, generator=generator,
                        extra={"inference_padding": edge, "mel_frontend": frontend_spec(frontend)})
    cfg.validate(str(yaml_path))
    return build(state, cfg, family=NAME, source=f"{path} with {yaml_path.name}", device=device,
                 dtype=dtype)


__all__ = ["CONFIG", "NAME", "detect", "load"]
