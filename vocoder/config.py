"""Typed configs for HiFi-GAN, read from and written to the published ``config.json`` format.

The published HiFi-GAN code (and kNN-VC, which copies it) keeps every setting in one flat
JSON object. Here the same object is split into three dataclasses, one per concern:

- :class:`AudioConfig`: sample rate and the mel frontend (also what training's mel loss uses);
- :class:`GeneratorConfig`: the generator's shape;
- :class:`TrainConfig`: optimiser and data settings.

:class:`HiFiGANConfig` bundles them and converts to and from the flat JSON, keeping keys it
does not know (``num_gpus``, ``dist_config``...) so a round trip loses nothing.

What is checked where: reading a whole config (:meth:`HiFiGANConfig.from_dict`,
:meth:`HiFiGANConfig.load`, :func:`load_config`) checks the audio and generator settings and
that a mel vocoder's ``hop_size`` equals the product of its ``upsample_rates`` (one hop of
samples per mel frame), because such a config describes a vocoder to build and run.
:func:`load_audio_config` reads and checks only the audio settings (computing mels needs no
generator). Training settings are checked by :meth:`TrainConfig.validate` when a run starts.

Limits. Every number is bounded so that a config cannot make a command allocate without
bound (a config file is at most 1 MiB of JSON):

=============================  ===================================================
``sampling_rate``              4000 - 192000 Hz (:data:`SAMPLE_RATE_RANGE`)
``n_fft``                      16 - 32768; ``win_size`` and ``hop_size`` at most ``n_fft``
``num_mels``                   1 - 512
``upsample_rates``             1 - 16 stages, product at most 8192 samples per frame
kernel sizes                   at most 1024; residual-block kernels odd
``resblock_dilation_sizes``    1 - 1024
``upsample_initial_channel``   at most 4096
``hubert_dim`` / ``hifi_dim``  1 - 8192
generator parameters           at most 500 M (:data:`MAX_GENERATOR_PARAMETERS`)
``batch_size``                 at least 1
``segment_size``               1 - 1048576 samples
=============================  ===================================================

Presets (:data:`PRESETS`, :func:`preset`) are named configs: the published V1/V2/V3 and
kNN-VC's feature vocoder; other families add theirs to the same table.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Literal, Mapping

from .errors import InputError

SAMPLE_RATE_RANGE = (4000, 192000)
MAX_CONFIG_BYTES = 1 << 20
MAX_N_FFT = 32768
MAX_NUM_MELS = 512
MAX_UPSAMPLE_STAGES = 16
MAX_UPSAMPLE_FACTOR = 8192
MAX_KERNEL_SIZE = 1024
MAX_DILATION = 1024
MAX_INITIAL_CHANNELS = 4096
MAX_FEATURE_DIM = 8192
MAX_GENERATOR_PARAMETERS = 500_000_000
MAX_SEGMENT_SIZE = 1 << 20


class ConfigError(InputError):
    """A config file or value that cannot be used; the message names the file and the key.

    Attributes:
        key: the setting the error is about (a config key or an option name), or ``None``;
            front ends use it to point at their own way of setting it.
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _require(condition: bool, source: str, key: str, message: str) -> None:
    """Raise ``ConfigError("<source>: '<key>' <message>")`` unless ``condition``."""
    if not condition:
        raise ConfigError(f"{source}: '{key}' {message}", key=key)


def _in_range(value: int, low: int, high: int, source: str, key: str) -> None:
    _require(low <= value <= high, source, key, f"must be in {low}..{high}, got {value}")


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

    @property
    def min_samples(self) -> int:
        """The shortest waveform the mel frontend takes: one hop, and more than the
        ``(n_fft - hop_size) / 2`` samples of reflect padding."""
        return max(self.hop_size, (self.n_fft - self.hop_size) // 2 + 1)

    def validate(self, source: str = "config") -> "AudioConfig":
        """Check every setting against its bounds (see the module docstring); returns self.

        Raises:
            ConfigError: naming ``source``, the key, the allowed range and the value.
        """
        _in_range(self.sampling_rate, *SAMPLE_RATE_RANGE, source, "sampling_rate")
        _in_range(self.n_fft, 16, MAX_N_FFT, source, "n_fft")
        _in_range(self.win_size, 1, self.n_fft, source, "win_size")
        _in_range(self.hop_size, 1, self.n_fft, source, "hop_size")
        _require((self.n_fft - self.hop_size) % 2 == 0, source, "hop_size",
                 f"n_fft - hop_size must be even for symmetric padding, got {self.n_fft} - "
                 f"{self.hop_size}")
        _in_range(self.num_mels, 1, MAX_NUM_MELS, source, "num_mels")
        nyquist = self.sampling_rate / 2
        _require(0 <= self.fmin < nyquist, source, "fmin",
                 f"must be in [0, {nyquist}), got {self.fmin}")
        for key in ("fmax", "fmax_for_loss"):
            value = getattr(self, key)
            _require(value is None or self.fmin < value <= nyquist, source, key,
                     f"must be in (fmin={self.fmin}, {nyquist}], got {value}")
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> "AudioConfig":
        """The audio settings of a flat published config, checked; other keys are ignored."""
        return cls(**_pick(_mapping(data, source), cls, _AUDIO_KEYS, source)).validate(source)


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

    def num_parameters(self) -> int:
        """Parameters of the generator this config builds (weight norm folded), computed
        from the shape alone: V1 with 80 mels has 13,926,017."""
        ch = self.upsample_initial_channel
        total = 0
        if self.input_dim is not None:
            total += (self.input_dim + 1) * self.in_channels  # lin_pre
        total += self.in_channels * ch * 7 + ch  # conv_pre
        convs_per_dilation = 2 if self.resblock == "1" else 1
        for i, kernel in enumerate(self.upsample_kernel_sizes):
            cin, cout = ch // 2 ** i, ch // 2 ** (i + 1)
            total += cin * cout * kernel + cout
            for k, dilations in zip(self.resblock_kernel_sizes, self.resblock_dilation_sizes):
                total += len(dilations) * convs_per_dilation * (cout * cout * k + cout)
        return total + ch // 2 ** len(self.upsample_rates) * 7 + 1  # conv_post

    def validate(self, source: str = "config") -> "GeneratorConfig":
        """Check the shape (consistent lists, bounds of the module docstring); returns self.

        Raises:
            ConfigError: naming ``source``, the key and what is wrong with it.
        """
        _require(self.resblock in ("1", "2"), source, "resblock",
                 f"must be \"1\" or \"2\", got {self.resblock!r}")
        rates, kernels = self.upsample_rates, self.upsample_kernel_sizes
        _in_range(len(rates), 1, MAX_UPSAMPLE_STAGES, source, "upsample_rates")
        _require(len(rates) == len(kernels), source, "upsample_kernel_sizes",
                 f"must have one entry per upsample rate ({len(rates)}), got {len(kernels)}")
        _require(all(u >= 1 for u in rates), source, "upsample_rates",
                 f"must all be at least 1, got {rates}")
        for u, k in zip(rates, kernels):
            # kernel - rate odd: one sample of output padding (ESPnet/ParallelWaveGAN)
            _require(u <= k <= MAX_KERNEL_SIZE and ((k - u) % 2 == 0 or u > 1), source,
                     "upsample_kernel_sizes",
                     f"kernel {k} for rate {u}: need rate <= kernel <= {MAX_KERNEL_SIZE}, and "
                     "kernel - rate even when the rate is 1")
        _require(self.conv_padding_mode in ("zeros", "reflect"), source, "conv_padding_mode",
                 f"must be \"zeros\" or \"reflect\", got {self.conv_padding_mode!r}")
        _require(self.upsample_factor <= MAX_UPSAMPLE_FACTOR, source, "upsample_rates",
                 f"{rates} multiply to {self.upsample_factor} samples per frame; at most "
                 f"{MAX_UPSAMPLE_FACTOR}")
        _require(len(self.resblock_kernel_sizes) > 0, source, "resblock_kernel_sizes",
                 "must not be empty")
        _require(len(self.resblock_kernel_sizes) == len(self.resblock_dilation_sizes), source,
                 "resblock_dilation_sizes",
                 f"must have one entry per kernel size ({len(self.resblock_kernel_sizes)}), "
                 f"got {len(self.resblock_dilation_sizes)}")
        for k in self.resblock_kernel_sizes:
            _require(1 <= k <= MAX_KERNEL_SIZE and k % 2 == 1, source, "resblock_kernel_sizes",
                     f"must be odd and in 1..{MAX_KERNEL_SIZE} (same-length convolutions), "
                     f"got {k}")
        for d in self.resblock_dilation_sizes:
            _require(len(d) > 0, source, "resblock_dilation_sizes", "entries must not be empty")
            _require(all(1 <= x <= MAX_DILATION for x in d), source, "resblock_dilation_sizes",
                     f"dilations must be in 1..{MAX_DILATION}, got {d}")
            if self.resblock == "1":
                _require(len(d) == 3, source, "resblock_dilation_sizes",
                         f"resblock \"1\" needs 3 dilations per kernel, got {d}")
        channels = self.upsample_initial_channel
        _require(channels <= MAX_INITIAL_CHANNELS, source, "upsample_initial_channel",
                 f"must be at most {MAX_INITIAL_CHANNELS}, got {channels}")
        _require(channels // 2 ** len(rates) >= 1, source, "upsample_initial_channel",
                 f"{channels} is too small for {len(rates)} upsampling stages (channels halve "
                 "at each)")
        _in_range(self.in_channels, 1, MAX_FEATURE_DIM, source, "in_channels")
        if self.input_dim is not None:
            _in_range(self.input_dim, 1, MAX_FEATURE_DIM, source, "input_dim")
        count = self.num_parameters()
        _require(count <= MAX_GENERATOR_PARAMETERS, source, "upsample_initial_channel",
                 f"and the other sizes give a generator of {count:,} parameters; at most "
                 f"{MAX_GENERATOR_PARAMETERS:,}")
        return self


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

    def validate(self, source: str = "config") -> "TrainConfig":
        """Check the training settings (a run calls this before it starts); returns self.

        Raises:
            ConfigError: naming ``source``, the key, the allowed range and the value.
        """
        _require(self.batch_size >= 1, source, "batch_size",
                 f"must be at least 1, got {self.batch_size}")
        _require(self.learning_rate > 0, source, "learning_rate",
                 f"must be positive, got {self.learning_rate}")
        for key in ("adam_b1", "adam_b2"):
            _require(0 <= getattr(self, key) < 1, source, key,
                     f"must be in [0, 1), got {getattr(self, key)}")
        _require(0 < self.lr_decay <= 1, source, "lr_decay",
                 f"must be in (0, 1], got {self.lr_decay}")
        _in_range(self.seed, 0, 2 ** 63 - 1, source, "seed")
        _in_range(self.segment_size, 1, MAX_SEGMENT_SIZE, source, "segment_size")
        _require(self.num_workers >= 0, source, "num_workers",
                 f"must be >= 0, got {self.num_workers}")
        return self


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
        """Check that the config describes a vocoder that can be built and run: audio and
        generator settings, and for a mel vocoder that it takes ``num_mels`` channels and
        outputs one hop of samples per frame. Training settings are left to
        :meth:`TrainConfig.validate`. Returns self.

        Raises:
            ConfigError: the first setting that does not hold, naming ``source``.
        """
        self.audio.validate(source)
        self.generator.validate(source)
        if self.generator.input_dim is None:
            if self.generator.in_channels != self.audio.num_mels:
                raise ConfigError(
                    f"{source}: a mel vocoder takes num_mels={self.audio.num_mels} input "
                    f"channels, but the generator expects {self.generator.in_channels}",
                    key="num_mels")
            factor = self.generator.upsample_factor
            if factor != self.audio.hop_size:
                raise ConfigError(
                    f"{source}: 'upsample_rates' {self.generator.upsample_rates} multiply to "
                    f"{factor}, but 'hop_size' is {self.audio.hop_size}; a mel vocoder must "
                    "output one hop of samples per mel frame", key="hop_size")
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
        """Parse a flat published config (jik876/hifi-gan or kNN-VC keys) and validate it.

        Raises:
            ConfigError: a wrongly typed value, or a setting :meth:`validate` refuses.
        """
        data = _mapping(data, source)
        audio = AudioConfig(**_pick(data, AudioConfig, _AUDIO_KEYS, source))
        train = TrainConfig(**_pick(data, TrainConfig, _TRAIN_KEYS, source))
        gen_kwargs = _pick(data, GeneratorConfig, _GENERATOR_KEYS, source)
        if "hubert_dim" in data or "hifi_dim" in data:
            missing = _FEATURE_KEYS - data.keys()
            if missing:
                raise ConfigError(f"{source}: feature vocoder config needs both 'hubert_dim' and "
                                  f"'hifi_dim'; missing {sorted(missing)}", key=min(missing))
            gen_kwargs["input_dim"] = _coerce(data["hubert_dim"], "hubert_dim", "int", source)
            gen_kwargs["in_channels"] = _coerce(data["hifi_dim"], "hifi_dim", "int", source)
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
        """Read and validate a published ``config.json``.

        Raises:
            ConfigError: a missing, unreadable, oversized or invalid file, naming it.
        """
        return cls.from_dict(read_config_json(path), source=str(path))

    def save(self, path: str | os.PathLike) -> None:
        """Write the published JSON format atomically."""
        from .atomic import write_text

        write_text(path, json.dumps(self.to_dict(), indent=4) + "\n")


def read_config_json(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON object of a config file, read within :data:`MAX_CONFIG_BYTES`.

    Raises:
        ConfigError: the file is missing, not a regular file, too large, not UTF-8, not
            valid JSON, nested too deeply to parse, or not a JSON object.
    """
    path = Path(path)
    try:
        if not path.exists():
            raise ConfigError(f"{path}: config file not found")
        if not path.is_file():
            raise ConfigError(f"{path}: not a regular file")
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: config file of {size:,} bytes; a config is at most "
                              f"{MAX_CONFIG_BYTES:,} bytes of JSON")
        text = path.read_bytes()[:MAX_CONFIG_BYTES + 1].decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (UTF-8 JSON) file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise ConfigError(f"{path}: JSON nested too deeply to be a config") from None
    return _mapping(data, str(path))


def _mapping(data: Any, source: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
    return data


def _pick(data: Mapping[str, Any], target: type, keys: set[str], source: str) -> dict[str, Any]:
    """The values of ``keys`` found in ``data``, checked against ``target``'s field types."""
    types = {f.name: f.type for f in fields(target)}
    return {key: _coerce(data[key], key, types[key], source) for key in keys & data.keys()}


def _coerce(value: Any, key: str, annotation: Any, source: str) -> Any:
    """Check a JSON value against a dataclass field annotation (given as a string)."""
    ann = str(annotation)
    bad = ConfigError(f"{source}: '{key}' has the wrong type: expected {ann}, got "
                      f"{_short_repr(value)}", key=key)
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
        if not math.isfinite(value):
            raise ConfigError(f"{source}: '{key}' must be a finite number, got {value}", key=key)
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


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value) if not isinstance(value, (list, dict)) else json.dumps(value)[:limit + 1]
    return text if len(text) <= limit else text[:limit] + "..."


# ------------------------------------------------------------------------------- presets

def v1_config() -> HiFiGANConfig:
    """Published V1 (22.05 kHz LJSpeech recipe), 13.93 M generator parameters."""
    return HiFiGANConfig().validate("preset v1")


def v2_config() -> HiFiGANConfig:
    """Published V2: V1's shape with 128 initial channels (0.93 M parameters)."""
    return HiFiGANConfig(generator=GeneratorConfig(upsample_initial_channel=128)
                         ).validate("preset v2")


def v3_config() -> HiFiGANConfig:
    """Published V3: three upsampling stages and type-2 residual blocks (1.46 M parameters)."""
    return HiFiGANConfig(generator=GeneratorConfig(
        upsample_rates=[8, 8, 4], upsample_kernel_sizes=[16, 16, 8],
        upsample_initial_channel=256, resblock="2", resblock_kernel_sizes=[3, 5, 7],
        resblock_dilation_sizes=[[1, 2], [2, 6], [3, 12]])).validate("preset v3")


def knnvc_config() -> HiFiGANConfig:
    """kNN-VC's WavLM-Large feature vocoder: 16 kHz, 50 Hz 1024-dim features, x320 upsampling."""
    return HiFiGANConfig(
        audio=AudioConfig(sampling_rate=16000, hop_size=320),
        generator=GeneratorConfig(upsample_rates=[10, 8, 2, 2],
                                  upsample_kernel_sizes=[20, 16, 4, 4],
                                  in_channels=512, input_dim=1024),
        train=TrainConfig(segment_size=7040)).validate("preset knnvc")


Inputs = Literal["mel", "features"]


@dataclass(frozen=True)
class Preset:
    """A named config.

    Attributes:
        name: lower-case name (``v1``, ``knnvc``, ``speechbrain-22k``...).
        description: one line for listings and help texts.
        inputs: what the vocoder takes: ``"mel"`` frames or SSL ``"features"``.
        build: returns a fresh, validated :class:`HiFiGANConfig` (callers may modify it).
    """

    name: str
    description: str
    inputs: Inputs
    build: Callable[[], HiFiGANConfig]


#: Every named config, in listing order. Add a family's presets here (one entry each).
PRESETS: Mapping[str, Preset] = MappingProxyType({p.name: p for p in (
    Preset("v1", "published HiFi-GAN V1: 22.05 kHz, 80 mels, hop 256, 13.9 M parameters",
           "mel", v1_config),
    Preset("v2", "published HiFi-GAN V2: V1 with 128 initial channels, 0.93 M parameters",
           "mel", v2_config),
    Preset("v3", "published HiFi-GAN V3: 22.05 kHz, 80 mels, hop 256, 1.46 M parameters",
           "mel", v3_config),
    Preset("knnvc", "kNN-VC's feature vocoder: 16 kHz from 1024-dim WavLM-Large features",
           "features", knnvc_config),
)})


def preset_names(inputs: Inputs | None = None) -> list[str]:
    """Names of the presets (those of mel or feature vocoders only, if ``inputs`` is given)."""
    return [name for name, p in PRESETS.items() if inputs is None or p.inputs == inputs]


def preset(name: str) -> HiFiGANConfig:
    """A fresh config for a named preset (case-insensitive; see :data:`PRESETS`).

    Raises:
        ConfigError: no preset has that name.
    """
    found = PRESETS.get(str(name).lower())
    if found is None:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return found.build()


def _preset_or_path(value: str | os.PathLike) -> Preset | Path:
    """A preset name (when no file of that name exists) or a config file path."""
    found = PRESETS.get(str(value).lower())
    if found is not None and not Path(value).is_file():
        return found
    return Path(value)


def load_config(value: str | os.PathLike) -> HiFiGANConfig:
    """A whole config from a preset name or a ``config.json`` path (a file of that name wins).

    Raises:
        ConfigError: see :meth:`HiFiGANConfig.load`.
    """
    found = _preset_or_path(value)
    return found.build() if isinstance(found, Preset) else HiFiGANConfig.load(found)


def load_audio_config(value: str | os.PathLike) -> AudioConfig:
    """Only the audio (mel) settings of a preset or a ``config.json``, checked alone: what
    computing mels needs. The generator and training settings are neither used nor checked.

    Raises:
        ConfigError: an unreadable file or invalid audio settings.
    """
    found = _preset_or_path(value)
    if isinstance(found, Preset):
        return found.build().audio
    return AudioConfig.from_dict(read_config_json(found), source=str(found))


__all__ = ["AudioConfig", "ConfigError", "GeneratorConfig", "HiFiGANConfig", "MAX_CONFIG_BYTES",
           "MAX_GENERATOR_PARAMETERS", "PRESETS", "Preset", "SAMPLE_RATE_RANGE", "TrainConfig",
           "knnvc_config", "load_audio_config", "load_config", "preset", "preset_names",
           "read_config_json", "v1_config", "v2_config", "v3_config"]
