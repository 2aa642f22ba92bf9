"""The HiFi-GAN mel frontend, exactly as the published code computes it.

Waveform in [-1, 1] -> reflect-pad ``(n_fft - hop) / 2`` on both sides -> STFT with
``center=False`` and a Hann window -> magnitude ``sqrt(re^2 + im^2 + 1e-9)`` -> Slaney mel
filterbank (librosa's default) -> ``log(clamp(x, min=1e-5))``. A waveform of ``n`` samples
gives ``n // hop_size`` frames.

Other toolkits' mel definitions sit beside it (:class:`CenteredLogMel`, :class:`CoquiMel`),
with named presets (:data:`MEL_PRESETS`) for the published vocoders' settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Protocol, runtime_checkable

import math

import librosa
import torch
from torch import Tensor, nn

from .config import AudioConfig
from .errors import InputError


def mel_filterbank(audio: AudioConfig, fmax: float | None = None) -> Tensor:
    """Slaney-style mel filterbank, ``(num_mels, n_fft // 2 + 1)`` float32.

    ``fmax`` overrides ``audio.fmax`` (``None`` there means half the sample rate).
    """
    top = audio.fmax if fmax is None else fmax
    basis = librosa.filters.mel(sr=audio.sampling_rate, n_fft=audio.n_fft, n_mels=audio.num_mels,
                                fmin=audio.fmin, fmax=top, htk=False, norm="slaney")
    return torch.from_numpy(basis).float()


class MelSpectrogram(nn.Module):
    """Log-mel spectrogram of the published HiFi-GAN.

    The filterbank and window are buffers, so ``.to(device)`` moves them; no global cache.

    Args:
        audio: sample rate and STFT/mel settings.
        fmax: overrides ``audio.fmax``; training's mel loss passes ``audio.fmax_for_loss``
            (or half the sample rate when that is ``None``).
    """

    def __init__(self, audio: AudioConfig, fmax: float | None = None) -> None:
        super().__init__()
        self.n_fft = audio.n_fft
        self.hop_size = audio.hop_size
        self.win_size = audio.win_size
        self.pad = (audio.n_fft - audio.hop_size) // 2
        self.register_buffer("mel_basis", mel_filterbank(audio, fmax), persistent=False)
        self.register_buffer("window", torch.hann_window(audio.win_size), persistent=False)

    @classmethod
    def for_loss(cls, audio: AudioConfig) -> "MelSpectrogram":
        """The frontend training's mel-L1 loss uses (``fmax_for_loss``)."""
        return cls(audio, fmax=audio.fmax_for_loss or audio.sampling_rate / 2)

    def forward(self, wav: Tensor) -> Tensor:
        """``(batch, samples)`` or ``(samples,)`` -> ``(batch, num_mels, samples // hop)``.

        Differentiable; computed in float32 whatever the input dtype.
        """
        squeeze = wav.dim() == 1
        if squeeze:
            wav = wav.unsqueeze(0)
        if wav.dim() != 2:
            raise InputError(f"expected a waveform of shape (batch, samples), got {tuple(wav.shape)}")
        if wav.shape[-1] <= self.pad:
            raise InputError(f"waveform of {wav.shape[-1]} samples is too short: reflect padding "
                             f"needs more than {self.pad} samples")
        wav = wav.float()
        wav = nn.functional.pad(wav.unsqueeze(1), (self.pad, self.pad), mode="reflect").squeeze(1)
        spec = torch.stft(wav, self.n_fft, hop_length=self.hop_size, win_length=self.win_size,
                          window=self.window, center=False, normalized=False, onesided=True,
                          return_complex=True)
        mag = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-9)
        mel = torch.matmul(self.mel_basis, mag)
        mel = torch.log(torch.clamp(mel, min=1e-5))
        return mel.squeeze(0) if squeeze else mel


# ------------------------------------------------------------------ other families' mels
#
# Each toolkit that publishes HiFi-GAN-family vocoders trains them on its own log-mel; a
# vocoder fed another toolkit's mel sounds broken. The variants below compute each one exactly
# as the toolkit's own code does (checked against it in tests/vocoder/families), as modules
# with the same call as MelSpectrogram: waveform in [-1, 1] -> (batch, num_mels, frames).


@runtime_checkable
class MelFrontend(Protocol):
    """What every mel frontend offers: its settings and waveform -> log-mel frames.

    Attributes:
        name: the family whose mel this is (``hifigan``, ``speechbrain``, ``espnet``, ``coqui``).
        audio: sample rate and STFT/mel settings (``hop_size`` samples per frame).
        silence: the value every band takes for digital silence (its floor, in the mel's own
            units): what padding frames must hold so that the vocoder hears silence (a zero
            is a loud frame in a log-mel).
        min_samples: the shortest waveform it takes.
    """

    name: str
    audio: AudioConfig
    silence: float
    min_samples: int

    def __call__(self, wav: Tensor) -> Tensor:
        """``(batch, samples)`` or ``(samples,)`` -> ``(batch, num_mels, frames)`` or
        ``(num_mels, frames)``."""
        ...

    def num_frames(self, samples: int) -> int:
        """Frames this frontend makes from ``samples`` samples."""
        ...


def _batched(wav: Tensor, min_samples: int) -> tuple[Tensor, bool]:
    """``(samples,)`` or ``(batch, samples)`` -> float32 ``(batch, samples)`` and whether to
    squeeze the result; an error for other shapes or audio too short to pad."""
    squeeze = wav.dim() == 1
    if squeeze:
        wav = wav.unsqueeze(0)
    if wav.dim() != 2:
        raise InputError(f"expected a waveform of shape (batch, samples), got {tuple(wav.shape)}")
    if wav.shape[-1] <= min_samples:
        raise InputError(f"waveform of {wav.shape[-1]} samples is too short: reflect padding "
                         f"needs more than {min_samples} samples")
    return wav.float(), squeeze


class CenteredLogMel(nn.Module):
    """Log-mel of centred STFT frames (librosa's and torchaudio's default framing).

    Waveform -> reflect-pad ``n_fft // 2`` on both sides -> STFT (Hann window of ``win_size``
    centred in ``n_fft``) -> magnitude ``|X|`` -> Slaney mel filterbank -> ``log(max(x,
    floor))`` in base ``e`` or 10. ``n`` samples give ``1 + n // hop_size`` frames.

    - SpeechBrain's HiFi-GAN (``speechbrain.lobes.models.HifiGAN.mel_spectogram``, torchaudio's
      ``MelSpectrogram`` with ``power=1``, Slaney norm and scale): base ``e``, floor ``1e-5``.
    - ParallelWaveGAN / ESPnet (``logmelfilterbank``): base 10, floor ``1e-10``.

    Args:
        audio: settings; ``fmax=None`` means half the sample rate.
        name: the family (``speechbrain``, ``espnet``).
        log_base: ``"e"`` or ``"10"``.
        floor: smallest mel magnitude before the log.
    """

    def __init__(self, audio: AudioConfig, name: str, log_base: str = "e",
                 floor: float = 1e-5) -> None:
        super().__init__()
        if log_base not in ("e", "10"):
            raise InputError(f"log_base must be 'e' or '10', got {log_base!r}")
        self.name, self.audio, self.log_base, self.floor = name, audio, log_base, floor
        self.register_buffer("mel_basis", mel_filterbank(audio), persistent=False)
        self.register_buffer("window", torch.hann_window(audio.win_size), persistent=False)

    def num_frames(self, samples: int) -> int:
        return 1 + samples // self.audio.hop_size

    @property
    def silence(self) -> float:
        """``log(floor)`` in the frontend's base."""
        return math.log(self.floor) if self.log_base == "e" else math.log10(self.floor)

    @property
    def min_samples(self) -> int:
        """More than the ``n_fft // 2`` samples of reflect padding."""
        return self.audio.n_fft // 2 + 1

    def magnitude(self, wav: Tensor) -> Tensor:
        """``(batch, samples)`` float32 -> ``|STFT|`` ``(batch, n_fft // 2 + 1, frames)``."""
        spec = torch.stft(wav, self.audio.n_fft, hop_length=self.audio.hop_size,
                          win_length=self.audio.win_size, window=self.window, center=True,
                          pad_mode="reflect", normalized=False, onesided=True,
                          return_complex=True)
        return spec.abs()

    def forward(self, wav: Tensor) -> Tensor:
        """``(batch, samples)`` or ``(samples,)`` -> ``(batch, num_mels, 1 + samples // hop)``."""
        wav, squeeze = _batched(wav, self.audio.n_fft // 2)
        mel = torch.clamp(torch.matmul(self.mel_basis, self.magnitude(wav)), min=self.floor)
        mel = torch.log(mel) if self.log_base == "e" else torch.log10(mel)
        return mel.squeeze(0) if squeeze else mel


@dataclass
class DbNormalization:
    """Coqui TTS ``AudioProcessor`` settings after the mel filterbank (its key names).

    ``spec_gain * log_base(max(mel, 1e-8))`` in dB (``do_amp_to_db_mel``); then, with
    ``signal_norm``, ``(x - ref_level_db - min_level_db) / -min_level_db`` scaled to
    ``[-max_norm, max_norm]`` (``symmetric_norm``) or ``[0, max_norm]``, clipped with
    ``clip_norm``. ``preemphasis`` filters the waveform first when it is not 0.
    """

    spec_gain: float = 20.0
    log_base: str = "10"
    do_amp_to_db_mel: bool = True
    signal_norm: bool = True
    ref_level_db: float = 20.0
    min_level_db: float = -100.0
    symmetric_norm: bool = True
    max_norm: float = 4.0
    clip_norm: bool = True
    preemphasis: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CoquiMel(nn.Module):
    """Coqui TTS's ``AudioProcessor.melspectrogram``: :class:`CenteredLogMel`'s framing and
    magnitude, then decibels and range normalisation (:class:`DbNormalization`).

    ``n`` samples give ``1 + n // hop_size`` frames.
    """

    name = "coqui"

    def __init__(self, audio: AudioConfig, norm: DbNormalization) -> None:
        super().__init__()
        if norm.log_base not in ("e", "10"):
            raise InputError(f"log_base must be 'e' or '10', got {norm.log_base!r}")
        self.audio, self.norm = audio, norm
        self.stft = CenteredLogMel(audio, "coqui")

    def num_frames(self, samples: int) -> int:
        return 1 + samples // self.audio.hop_size

    @property
    def min_samples(self) -> int:
        return self.stft.min_samples

    @property
    def silence(self) -> float:
        """The normalised value of the ``1e-8`` floor (``-max_norm`` with the published
        settings, whose floor of -160 dB is clipped)."""
        return float(self._normalize(torch.zeros(1, 1))[0, 0])

    def forward(self, wav: Tensor) -> Tensor:
        """``(batch, samples)`` or ``(samples,)`` -> ``(batch, num_mels, 1 + samples // hop)``."""
        wav, squeeze = _batched(wav, self.audio.n_fft // 2)
        n = self.norm
        if n.preemphasis:
            wav = torch.cat([wav[:, :1], wav[:, 1:] - n.preemphasis * wav[:, :-1]], dim=1)
        mel = self._normalize(torch.matmul(self.stft.mel_basis, self.stft.magnitude(wav)))
        return mel.squeeze(0) if squeeze else mel

    def _normalize(self, mel: Tensor) -> Tensor:
        """Mel magnitudes -> the normalised dB values (:class:`DbNormalization`)."""
        n = self.norm
        if n.do_amp_to_db_mel:
            mel = torch.clamp(mel, min=1e-8)
            mel = n.spec_gain * (torch.log10(mel) if n.log_base == "10" else torch.log(mel))
        if n.signal_norm:
            mel = (mel - n.ref_level_db - n.min_level_db) / -n.min_level_db
            if n.symmetric_norm:
                mel = 2 * n.max_norm * mel - n.max_norm
                if n.clip_norm:
                    mel = mel.clamp(-n.max_norm, n.max_norm)
            else:
                mel = n.max_norm * mel
                if n.clip_norm:
                    mel = mel.clamp(0, n.max_norm)
        return mel


class HiFiGANMel(MelSpectrogram):
    """:class:`MelSpectrogram` as a :class:`MelFrontend` (jik876/hifi-gan, torchaudio's
    weights, kNN-VC, BigVGAN): ``n`` samples give ``n // hop_size`` frames."""

    name = "hifigan"
    silence = math.log(1e-5)  # its clamp: silent bands (and the 1e-9 magnitude floor) sit there

    def __init__(self, audio: AudioConfig) -> None:
        super().__init__(audio)
        self.audio = audio

    def num_frames(self, samples: int) -> int:
        return samples // self.audio.hop_size

    @property
    def min_samples(self) -> int:
        return self.audio.min_samples


def _speechbrain(sample_rate: int) -> CenteredLogMel:
    audio = AudioConfig(sampling_rate=sample_rate, n_fft=1024, hop_size=256, win_size=1024,
                        num_mels=80, fmin=0.0, fmax=8000.0)
    return CenteredLogMel(audio, "speechbrain", "e", 1e-5)


def _espnet_ljspeech() -> CenteredLogMel:
    audio = AudioConfig(sampling_rate=22050, n_fft=1024, hop_size=256, win_size=1024,
                        num_mels=80, fmin=80.0, fmax=7600.0)
    return CenteredLogMel(audio, "espnet", "10", 1e-10)


#: Named mels of published vocoders, so mels made by their TTS systems meet them.
MEL_PRESETS: dict[str, Callable[[], nn.Module]] = {
    "speechbrain-22k": lambda: _speechbrain(22050),   # tts-hifigan-ljspeech, -libritts-22050Hz
    "speechbrain-16k": lambda: _speechbrain(16000),   # tts-hifigan-libritts-16kHz
    "espnet-ljspeech": _espnet_ljspeech,              # ParallelWaveGAN's LJSpeech recipes (raw log10)
}


def mel_preset(name: str) -> nn.Module:
    """A fresh frontend for a named mel preset (:data:`MEL_PRESETS`)."""
    try:
        return MEL_PRESETS[name.lower()]()
    except KeyError:
        raise InputError(f"unknown mel preset {name!r}; choose one of "
                         f"{', '.join(MEL_PRESETS)}") from None


def frontend_spec(frontend: nn.Module) -> dict[str, Any]:
    """What defines a frontend besides its :class:`AudioConfig`, as a JSON-ready dict
    (stored in a converted vocoder's ``config.json``; :func:`frontend_from_spec` reads it)."""
    if isinstance(frontend, CoquiMel):
        return {"name": "coqui", **frontend.norm.to_dict()}
    if isinstance(frontend, CenteredLogMel):
        return {"name": frontend.name, "centered": True, "log_base": frontend.log_base,
                "floor": frontend.floor}
    if isinstance(frontend, MelSpectrogram):
        return {"name": "hifigan"}
    raise TypeError(f"no spec for {type(frontend).__name__}")


def frontend_from_spec(spec: dict[str, Any] | None, audio: AudioConfig,
                       source: str = "config") -> nn.Module:
    """The frontend a :func:`frontend_spec` dict describes (``None``: HiFi-GAN's)."""
    if spec is None or spec.get("name") == "hifigan":
        return HiFiGANMel(audio)
    try:
        if spec["name"] == "coqui":
            fields = {k: v for k, v in spec.items() if k != "name"}
            return CoquiMel(audio, DbNormalization(**fields))
        if spec.get("centered"):
            return CenteredLogMel(audio, str(spec["name"]), str(spec["log_base"]),
                                  float(spec["floor"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{source}: 'mel_frontend' {spec!r} is not a valid mel description "
                         f"({exc})") from None
    raise InputError(f"{source}: 'mel_frontend' names an unknown mel {spec.get('name')!r}")
