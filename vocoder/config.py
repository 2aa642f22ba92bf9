"""Typed configs for HiFi-GAN, read from and written to the published ``config.json`` format.

The published HiFi-GAN code (and kNN-VC, which copies it) keeps every setting in one flat
JSON object. Here the same object is split into three dataclasses, one per concern:

- :class:`AudioConfig`: sample rate and the mel frontend (also what training's mel loss uses);
- :class:`GeneratorConfig`: the generator's shape;
- :class:`TrainConfig`: optimiser and data settings.

:class:`HiFiGANConfig` bundles them and converts to and from the flat JSON, keeping keys it
does not know (``num_gpus``, ``dist_config``...) so a round trip loses nothing.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from .errors import InputError


class ConfigError(InputError):
    """A config file or value that cannot be used; the message names the file and the key."""


@dataclass
class AudioConfig:
    """Sample rate and mel-spectrogram settings (published key names).

    ``fmax=None`` means ``sampling_rate / 2``; ``fmax_for_loss=None`` likewise, for the
    training mel loss only.
    """

    sampling_rate: int = 22050
    n_fft: int = 1024
    hop_size: int = 256
    win_size: int = 1024
    num_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = 8000.0
    fmax_for_loss: float | None = None

    def validate(self, source: str = "config") -> None:
        def need(cond: bool, key: str, msg: str) -> None:
            if not cond:
                raise ConfigError(f"{source}: '{key}' {msg}")

        need(self.sampling_rate > 0, "sampling_rate", f"must be positive, got {self.sampling_rate}")
        need(self.hop_size > 0, "hop_size", f"must be positive, got {self.hop_size}")
        need(0 < self.win_size <= self.n_fft, "win_size",
             f"must be in 1..n_fft ({self.n_fft}), got {self.win_size}")
        need((self.n_fft - self.hop_size) % 2 == 0, "hop_size",
             f"n_fft - hop_size must be even for symmetric padding, got {self.n_fft} - {self.hop_size}")
        need(self.num_mels > 0, "num_mels", f"must be positive, got {self.num_mels}")
        nyquist = self.sampling_rate / 2
        for key in ("fmax", "fmax_for_loss"):
            value = getattr(self, key)
            need(value is None or self.fmin < value <= nyquist, key,
                 f"must be in (fmin={self.fmin}, {nyquist}], got {value}")


@dataclass
class GeneratorConfig:
    """Shape of a HiFi-GAN generator.

    ``in_channels`` is what ``conv_pre`` takes: the number of mels for a mel vocoder. A feature
    vocoder (kNN-VC) first projects ``input_dim``-dimensional features to ``in_channels`` with a
    linear layer ``lin_pre``; published configs call these ``hubert_dim`` and ``hifi_dim``.
    """

    upsample_rates: list[int] = field(default_factory=lambda: [8, 8, 2, 2])
    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [16, 16, 4, 4])
    upsample_initial_channel: int = 512
    resblock: str = "1"
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 7, 11])
    resblock_dilation_sizes: list[list[int]] = field(
        default_factory=lambda: [[1, 3, 5], [1, 3, 5], [1, 3, 5]])
    in_channels: int = 80
    input_dim: int | None = None
    #: How convolutions (not the upsampling ones) pad their input: "zeros" as published;
    #: "reflect" in SpeechBrain's HiFi-GAN. Written to config.json only when not "zeros".
    conv_padding_mode: str = "zeros"

    @property
    def upsample_factor(self) -> int:
        """Output samples per input frame (product of the upsample rates)."""
        return math.prod(self.upsample_rates)

    def validate(self, source: str = "config") -> None:
        def need(cond: bool, key: str, msg: str) -> None:
            if not cond:
                raise ConfigError(f"{source}: '{key}' {msg}")

        need(self.resblock in ("1", "2"), "resblock", f"must be \"1\" or \"2\", got {self.resblock!r}")
        need(len(self.upsample_rates) > 0, "upsample_rates", "must not be empty")
        need(len(self.upsample_rates) == len(self.upsample_kernel_sizes), "upsample_kernel_sizes",
             f"must have one entry per upsample rate ({len(self.upsample_rates)}), "
             f"got {len(self.upsample_kernel_sizes)}")
        for u, k in zip(self.upsample_rates, self.upsample_kernel_sizes):
            # kernel - rate odd: one extra sample of output padding (ESPnet/ParallelWaveGAN)
            need(u > 0 and k >= u and ((k - u) % 2 == 0 or u > 1), "upsample_kernel_sizes",
                 f"kernel {k} for rate {u}: need kernel >= rate, and kernel - rate even "
                 "when the rate is 1")
        need(self.conv_padding_mode in ("zeros", "reflect"), "conv_padding_mode",
             f"must be \"zeros\" or \"reflect\", got {self.conv_padding_mode!r}")
        need(len(self.resblock_kernel_sizes) == len(self.resblock_dilation_sizes),
             "resblock_dilation_sizes",
             f"must have one entry per kernel size ({len(self.resblock_kernel_sizes)}), "
             f"got {len(self.resblock_dilation_sizes)}")
        expected = 3 if self.resblock == "1" else None
        for d in self.resblock_dilation_sizes:
            need(len(d) > 0, "resblock_dilation_sizes", "entries must not be empty")
            if expected is not None:
                need(len(d) == expected, "resblock_dilation_sizes",
                     f"resblock \"1\" needs 3 dilations per kernel, got {d}")
        channels = self.upsample_initial_channel // 2 ** len(self.upsample_rates)
        need(channels >= 1, "upsample_initial_channel",
             f"{self.upsample_initial_channel} is too small for {len(self.upsample_rates)} "
             "upsampling stages (channels halve at each)")
        need(self.in_channels > 0, "in_channels", f"must be positive, got {self.in_channels}")
        need(self.input_dim is None or self.input_dim > 0, "input_dim",
             f"must be positive, got {self.input_dim}")


@dataclass
class TrainConfig:
    """Optimiser and data settings of the published training recipe."""

    batch_size: int = 16
    learning_rate: float = 0.0002
    adam_b1: float = 0.8
    adam_b2: float = 0.99
    lr_decay: float = 0.999
    seed: int = 1234
    segment_size: int = 8192
    num_workers: int = 4


_AUDIO_KEYS = {f.name for f in fields(AudioConfig)}
_TRAIN_KEYS = {f.name for f in fields(TrainConfig)}
_GENERATOR_KEYS = {f.name for f in fields(GeneratorConfig)} - {"in_channels", "input_dim"}
_FEATURE_KEYS = {"hubert_dim", "hifi_dim"}


@dataclass
class HiFiGANConfig:
    """A whole published ``config.json``: audio, generator and training settings."""

    audio: AudioConfig = field(default_factory=AudioConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # unknown keys, kept

    def validate(self, source: str = "config") -> "HiFiGANConfig":
        self.audio.validate(source)
        self.generator.validate(source)
        if self.generator.input_dim is None and self.generator.in_channels != self.audio.num_mels:
            raise ConfigError(
                f"{source}: a mel vocoder takes num_mels={self.audio.num_mels} input channels, "
                f"but the generator expects {self.generator.in_channels}")
        return self

    @property
    def is_feature_vocoder(self) -> bool:
        """True for vocoders driven by SSL features through ``lin_pre`` (kNN-VC)."""
        return self.generator.input_dim is not None

    @property
    def input_channels(self) -> int:
        """Channels of the arrays the vocoder takes: feature dim or number of mels."""
        return self.generator.input_dim or self.generator.in_channels

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> "HiFiGANConfig":
        """Parse a flat published config (jik876/hifi-gan or kNN-VC keys)."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")

        def pick(keys: set[str], target: type) -> dict[str, Any]:
            out = {}
            for key in keys & data.keys():
                value = data[key]
                default = next(f for f in fields(target) if f.name == key)
                out[key] = _coerce(value, key, default.type, source)
            return out

        try:
            audio = AudioConfig(**pick(_AUDIO_KEYS, AudioConfig))
            train = TrainConfig(**pick(_TRAIN_KEYS, TrainConfig))
            gen_kwargs = pick(_GENERATOR_KEYS, GeneratorConfig)
        except TypeError as exc:  # pragma: no cover - guarded by _coerce
            raise ConfigError(f"{source}: {exc}") from exc
        if "hubert_dim" in data or "hifi_dim" in data:
            missing = _FEATURE_KEYS - data.keys()
            if missing:
                raise ConfigError(f"{source}: feature vocoder config needs both 'hubert_dim' and "
                                  f"'hifi_dim'; missing {sorted(missing)}")
            gen_kwargs["input_dim"] = int(data["hubert_dim"])
            gen_kwargs["in_channels"] = int(data["hifi_dim"])
        else:
            gen_kwargs["in_channels"] = audio.num_mels
        generator = GeneratorConfig(**gen_kwargs)
        known = _AUDIO_KEYS | _TRAIN_KEYS | _GENERATOR_KEYS | _FEATURE_KEYS
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(audio=audio, generator=generator, train=train, extra=extra).validate(source)

    def to_dict(self) -> dict[str, Any]:
        """The flat published JSON object (kNN-VC keys for feature vocoders)."""
        out: dict[str, Any] = {"resblock": self.generator.resblock}
        out.update(asdict(self.train))
        gen = asdict(self.generator)
        in_channels, input_dim = gen.pop("in_channels"), gen.pop("input_dim")
        gen.pop("resblock")
        if gen["conv_padding_mode"] == "zeros":
            gen.pop("conv_padding_mode")
        out.update(gen)
        if input_dim is not None:
            out["hubert_dim"] = input_dim
            out["hifi_dim"] = in_channels
        out.update(asdict(self.audio))
        for key, value in self.extra.items():
            out.setdefault(key, value)
        # Unused by the model; published configs carry it (with n_fft + 1, not n_fft // 2 + 1).
        out.setdefault("num_freq", self.audio.n_fft + 1)
        return out

    @classmethod
    def load(cls, path: str | os.PathLike) -> "HiFiGANConfig":
        """Read a published ``config.json``."""
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_dict(data, source=str(path))

    def save(self, path: str | os.PathLike) -> None:
        """Write the published JSON format atomically."""
        from .atomic import atomic_path

        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=4) + "\n")


def _coerce(value: Any, key: str, annotation: Any, source: str) -> Any:
    """Check a JSON value against the dataclass field annotation (given as a string)."""
    ann = str(annotation)
    bad = ConfigError(f"{source}: '{key}' has the wrong type: expected {ann}, got {value!r}")
    if value is None:
        if "None" in ann:
            return None
        raise bad
    if ann.startswith("list[list[int]]"):
        if not (isinstance(value, list) and all(isinstance(v, list) for v in value)):
            raise bad
        return [[_as_int(x, bad) for x in v] for v in value]
    if ann.startswith("list[int]"):
        if not isinstance(value, list):
            raise bad
        return [_as_int(x, bad) for x in value]
    if ann.startswith("int"):
        return _as_int(value, bad)
    if ann.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if ann == "str":
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise bad
        return str(value)
    return value


def _as_int(value: Any, bad: Exception) -> int:
    if isinstance(value, bool):
        raise bad
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int):
        raise bad
    return value


def _preset(generator: GeneratorConfig) -> HiFiGANConfig:
    return HiFiGANConfig(generator=generator).validate(source="preset")


def v1_config() -> HiFiGANConfig:
    """Published V1 (22.05 kHz LJSpeech recipe), 13.93 M generator parameters."""
    return _preset(GeneratorConfig())


def v2_config() -> HiFiGANConfig:
    """Published V2: V1's shape with 128 initial channels (0.93 M parameters)."""
    return _preset(GeneratorConfig(upsample_initial_channel=128))


def v3_config() -> HiFiGANConfig:
    """Published V3: three upsampling stages and type-2 residual blocks (1.46 M parameters)."""
    return _preset(GeneratorConfig(
        upsample_rates=[8, 8, 4], upsample_kernel_sizes=[16, 16, 8],
        upsample_initial_channel=256, resblock="2", resblock_kernel_sizes=[3, 5, 7],
        resblock_dilation_sizes=[[1, 2], [2, 6], [3, 12]]))


def knnvc_config() -> HiFiGANConfig:
    """kNN-VC's WavLM-Large feature vocoder: 16 kHz, 50 Hz 1024-dim features, x320 upsampling."""
    cfg = HiFiGANConfig(
        audio=AudioConfig(sampling_rate=16000, hop_size=320),
        generator=GeneratorConfig(upsample_rates=[10, 8, 2, 2],
                                  upsample_kernel_sizes=[20, 16, 4, 4],
                                  in_channels=512, input_dim=1024),
        train=TrainConfig(segment_size=7040))
    return cfg.validate(source="preset")


PRESETS = {"v1": v1_config, "v2": v2_config, "v3": v3_config, "knnvc": knnvc_config}


def preset(name: str) -> HiFiGANConfig:
    """A fresh config for a named preset: ``v1``, ``v2``, ``v3`` or ``knnvc``."""
    try:
        return PRESETS[name.lower()]()
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
