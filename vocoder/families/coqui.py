"""Coqui TTS HiFi-GAN (``TTS.vocoder.models.hifigan_generator.HifiganGenerator``).

Files: the model file (``model_file.pth``, ``best_model.pth``, ``checkpoint_N.pth``: a dict
whose ``"model"`` holds the GAN's ``model_g.*`` and ``model_d.*`` weights) and ``config.json``
beside it (``generator_model_params`` and the ``audio`` processor settings). The generator
is the published one (same names after ``model_g.``); inference pads the mel with
``inference_padding`` (5) repeated frames at each end, and returns the padded length; here
the padding's samples are cut so ``T`` frames give ``T * hop`` samples.

The mel is ``AudioProcessor.melspectrogram``: centred librosa STFT frames, ``|X|``, Slaney
filterbank, ``spec_gain * log10(max(mel, 1e-8))`` dB, then normalised to
``[-max_norm, max_norm]`` (:class:`vocoder.mel.CoquiMel`). Mean-variance statistics
(``stats_path``) and millisecond frame settings are not supported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..checkpoint import CheckpointError, read_checkpoint
from ..config import AudioConfig, ConfigError, GeneratorConfig, HiFiGANConfig
from ..mel import CoquiMel, DbNormalization, frontend_spec
from .configfiles import json_beside, read_json
from .hifigan import build
from .loaded import LoadedVocoder
from .weights import fold_weight_norm, tensors

NAME = "coqui"
CONFIG = "config.json"


def detect(path: Path) -> bool:
    data = json_beside(path, CONFIG)
    return data is not None and ("generator_model" in data or (
        isinstance(data.get("audio"), dict) and "fft_size" in data["audio"]))


def _generator(data: dict[str, Any], num_mels: int, source: str) -> tuple[GeneratorConfig, int]:
    model = data.get("generator_model", "hifigan_generator")
    if model != "hifigan_generator":
        raise ConfigError(f"{source}: 'generator_model' is {model!r}; only "
                          "'hifigan_generator' is a HiFi-GAN")
    params = data.get("generator_model_params") or {}
    for key in ("cond_channels", "pre_linear"):
        if params.get(key):
            raise ConfigError(f"{source}: generator_model_params '{key}' is not supported")
    if params.get("conv_post_bias", True) is False:
        raise ConfigError(f"{source}: generator_model_params 'conv_post_bias' False is not "
                          "supported")
    try:
        gen = GeneratorConfig(
            upsample_rates=[int(u) for u in params.get("upsample_factors", [8, 8, 2, 2])],
            upsample_kernel_sizes=[int(k) for k in params.get("upsample_kernel_sizes",
                                                               [16, 16, 4, 4])],
            upsample_initial_channel=int(params.get("upsample_initial_channel", 512)),
            resblock=str(params.get("resblock_type", "1")),
            resblock_kernel_sizes=[int(k) for k in params.get("resblock_kernel_sizes",
                                                               [3, 7, 11])],
            resblock_dilation_sizes=[[int(d) for d in ds] for ds in params.get(
                "resblock_dilation_sizes", [[1, 3, 5]] * 3)],
            in_channels=num_mels)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: generator_model_params are not numbers ({exc})") from None
    return gen, int(params.get("inference_padding", 5))


def _mel(audio: dict[str, Any], source: str) -> CoquiMel:
    for key in ("frame_shift_ms", "frame_length_ms", "stats_path"):
        if audio.get(key):
            raise ConfigError(f"{source}: audio '{key}' is set; not supported")
    if audio.get("stft_pad_mode", "reflect") != "reflect":
        raise ConfigError(f"{source}: audio 'stft_pad_mode' {audio['stft_pad_mode']!r} is not "
                          "supported (only 'reflect')")
    log_func = audio.get("log_func", "np.log10")
    if log_func not in ("np.log10", "np.log"):
        raise ConfigError(f"{source}: audio 'log_func' {log_func!r}: expected np.log10 or np.log")
    try:
        fft = int(audio.get("fft_size", 1024))
        settings = AudioConfig(
            sampling_rate=int(audio.get("sample_rate", 22050)), n_fft=fft,
            hop_size=int(audio.get("hop_length", 256)),
            win_size=int(audio.get("win_length") or fft), num_mels=int(audio.get("num_mels", 80)),
            fmin=float(audio.get("mel_fmin") or 0.0),
            fmax=None if audio.get("mel_fmax") is None else float(audio["mel_fmax"]))
        norm = DbNormalization(
            spec_gain=float(audio.get("spec_gain", 20)),
            log_base="10" if log_func == "np.log10" else "e",
            do_amp_to_db_mel=bool(audio.get("do_amp_to_db_mel", True)),
            signal_norm=bool(audio.get("signal_norm", True)),
            ref_level_db=float(audio.get("ref_level_db", 20)),
            min_level_db=float(audio.get("min_level_db", -100)),
            symmetric_norm=bool(audio.get("symmetric_norm", True)),
            max_norm=float(audio.get("max_norm", 4.0)),
            clip_norm=bool(audio.get("clip_norm", True)),
            preemphasis=float(audio.get("preemphasis", 0.0)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: audio settings are not numbers ({exc})") from None
    settings.validate(source)
    return CoquiMel(settings, norm)


def load(path: Path, config: str | os.PathLike | None, *, device: str = "cpu",
         dtype: str = "float32") -> LoadedVocoder:
    """The model file with Coqui's ``config.json`` beside it (or ``config``)."""
    json_path = path.parent / CONFIG if config is None else Path(config)
    if not json_path.is_file():
        raise CheckpointError(f"{path}: no {CONFIG} beside it; Coqui's generator and audio "
                              "settings come from it")
    data = read_json(json_path)
    frontend = _mel(data.get("audio") or {}, str(json_path))
    generator, edge = _generator(data, frontend.audio.num_mels, str(json_path))
    obj = read_checkpoint(path)
    model = tensors(obj.get("model", obj))
    if any(k.startswith("model_g.") for k in model):
        model = {k[len("model_g."):]: v for k, v in model.items() if k.startswith("model_g.")}
    if not any(k.startswith("conv_pre.") for k in model):
        raise CheckpointError(f"{path}: no Coqui HiFi-GAN generator found (expected "
                              "['model'] with 'model_g.conv_pre.*' parameters)")
    cfg = HiFiGANConfig(audio=frontend.audio, generator=generator,
                        extra={"inference_padding": edge, "mel_frontend": frontend_spec(frontend)})
    cfg.validate(str(json_path))
    return build(fold_weight_norm(model), cfg, family=NAME,
                 source=f"{path} with {json_path.name}", device=device, dtype=dtype)


__all__ = ["CONFIG", "NAME", "detect", "load"]
