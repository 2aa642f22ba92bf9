"""What every acoustic model (text -> log-mel frames) offers, and the check that its mels fit a
vocoder.

An acoustic model turns sentences into log-mel frames of one mel definition (its
:attr:`AcousticModel.audio`) and says which input token each frame attended to. Tacotron2 is
the first (:mod:`synth.acoustic.tacotron2`); a FastSpeech2 or Matcha-TTS frontend is one more
module with the same three members. Splitting text into sentences, seeding and joining is
done once for all of them (:mod:`synth.acoustic.speech`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

from torch import Tensor

from vocoder.config import AudioConfig
from vocoder.errors import InputError

#: The fields of :class:`~vocoder.config.AudioConfig` that define a mel spectrogram.
MEL_FIELDS = ("sampling_rate", "n_fft", "hop_size", "win_size", "num_mels", "fmin", "fmax")


class MelMismatchError(InputError):
    """An acoustic model whose mels are not the ones a vocoder was trained on."""


class DecoderStopError(InputError):
    """An autoregressive decoder that did not stop within the frames a sentence can need."""


def hifigan_ljspeech_mel() -> AudioConfig:
    """The LJSpeech HiFi-GAN mel (22.05 kHz, n_fft 1024, hop 256, window 1024, 80 mels,
    0-8000 Hz): what torchaudio's Griffin-Lim-bundle Tacotron2 weights were trained on."""
    return AudioConfig(sampling_rate=22050, n_fft=1024, hop_size=256, win_size=1024, num_mels=80,
                       fmin=0.0, fmax=8000.0)


def wavernn_ljspeech_mel() -> AudioConfig:
    """The mel of torchaudio's WaveRNN bundles (22.05 kHz, n_fft 2048, hop 275, window 1100,
    80 mels, 40-11025 Hz): what its ``..._wavernn_ljspeech.pth`` Tacotron2 weights produce.
    No HiFi-GAN vocoder takes it (its hop is not a product of HiFi-GAN's upsampling rates)."""
    return AudioConfig(sampling_rate=22050, n_fft=2048, hop_size=275, win_size=1100, num_mels=80,
                       fmin=40.0, fmax=11025.0)


@dataclass(frozen=True)
class SentenceMel:
    """One sentence as an acoustic model said it.

    Attributes:
        text: the sentence as given to the model (normalised text).
        tokens: what the model's encoder read (characters or phones), one string each.
        mel: float32 log-mel frames ``(num_mels, frames)``, natural log, on the CPU.
        alignment: float32 attention weights ``(frames, len(tokens))``, each row sums to 1.
        seed: the seed of this sentence's random draws (Tacotron2's prenet dropout).
        spelled: words the model had no pronunciation for and spelled letter by letter.
    """

    text: str
    tokens: tuple[str, ...]
    mel: Tensor
    alignment: Tensor
    seed: int
    spelled: tuple[str, ...] = ()

    @property
    def frames(self) -> int:
        return int(self.mel.shape[-1])


@runtime_checkable
class AcousticModel(Protocol):
    """Text -> log-mel frames.

    Attributes:
        name: what messages call it (a registry name or a file name).
        audio: the mel it produces: sample rate, STFT and mel-band settings
            (:data:`MEL_FIELDS`); a vocoder must have been trained on the same.
    """

    name: str
    audio: AudioConfig

    def infer(self, sentences: Sequence[str], seeds: Sequence[int]) -> list[SentenceMel]:
        """Sentences (normalised text, each short enough for the model) -> one
        :class:`SentenceMel` each, in order. Sentence ``i``'s output depends only on its
        text and ``seeds[i]``, not on the other sentences it is computed with.

        Raises:
            TextError: a sentence the model cannot read (unknown letters, nothing to say).
            DecoderStopError: a sentence the model does not finish.
        """
        ...


def describe_mel(audio: AudioConfig) -> str:
    """``"22050 Hz, n_fft 1024, hop 256, window 1024, 80 mels, 0-8000 Hz"``."""
    top = audio.fmax if audio.fmax is not None else audio.sampling_rate / 2
    return (f"{audio.sampling_rate} Hz, n_fft {audio.n_fft}, hop {audio.hop_size}, window "
            f"{audio.win_size}, {audio.num_mels} mels, {audio.fmin:g}-{top:g} Hz")


def same_mel(a: AudioConfig, b: AudioConfig) -> bool:
    """Whether two configs define the same mel spectrogram (``fmax=None`` is half the rate)."""
    def key(audio: AudioConfig) -> tuple:
        top = audio.fmax if audio.fmax is not None else audio.sampling_rate / 2
        return tuple(getattr(audio, f) for f in MEL_FIELDS[:-1]) + (float(top),)
    return key(a) == key(b)


#: The value scale of every acoustic model's mels (:attr:`SentenceMel.mel`), as
#: :func:`mel_scale` words it: HiFi-GAN's, SpeechBrain's and BigVGAN's too.
NATURAL_LOG_SCALE = "natural log, floor 1e-05"


def mel_scale(frontend: Any) -> str:
    """How a mel frontend's values relate to mel magnitudes, in words (a
    :class:`vocoder.mel.MelFrontend`: HiFi-GAN's and the families' mels)::

        "natural log, floor 1e-05"                       HiFi-GAN, SpeechBrain, BigVGAN
        "log10, floor 1e-10"                             ESPnet / ParallelWaveGAN (raw)
        "dB (20 * log10, floor 1e-08), normalised to [-4, 4]"   Coqui TTS
    """
    from vocoder.mel import CenteredLogMel, CoquiMel, MelSpectrogram

    if isinstance(frontend, CoquiMel):
        n = frontend.norm
        text = (f"dB ({n.spec_gain:g} * {'log10' if n.log_base == '10' else 'ln'}, floor 1e-08)"
                if n.do_amp_to_db_mel else "magnitudes")
        if n.signal_norm:
            low = -n.max_norm if n.symmetric_norm else 0
            text += f", normalised to [{low:g}, {n.max_norm:g}]"
        return text
    if isinstance(frontend, CenteredLogMel):
        base = "natural log" if frontend.log_base == "e" else "log10"
        return f"{base}, floor {frontend.floor:g}"
    if isinstance(frontend, MelSpectrogram):
        return NATURAL_LOG_SCALE
    return f"unknown ({type(frontend).__name__})"


def check_mel_pairing(model: AcousticModel, vocoder: Any, vocoder_name: str = "the vocoder"
                      ) -> None:
    """Refuse to pair an acoustic model with a vocoder trained on another mel: other STFT or
    mel-band settings (:data:`MEL_FIELDS`), or another value scale (:func:`mel_scale`:
    ESPnet's log10 mels, Coqui's normalised dB mels, even with the same STFT settings).

    Args:
        model: the acoustic model (its mels are :data:`NATURAL_LOG_SCALE`).
        vocoder: what the vocoder takes: a :class:`~vocoder.families.LoadedVocoder` (its
            ``frontend``), a mel frontend, or only its :class:`~vocoder.config.AudioConfig`
            (then the scale is not checked).
        vocoder_name: what the message calls the vocoder.

    Raises:
        MelMismatchError: the mels differ; the message lists both and what differs, and for
            torchaudio's WaveRNN-bundle Tacotron2 weights says which weights fit HiFi-GAN.
    """
    frontend = getattr(vocoder, "frontend", vocoder)
    audio = vocoder if isinstance(vocoder, AudioConfig) else frontend.audio
    if not same_mel(model.audio, audio):
        differs = [f for f in MEL_FIELDS if getattr(model.audio, f) != getattr(audio, f)]
        hint = ""
        if same_mel(model.audio, wavernn_ljspeech_mel()):
            hint = ("; these Tacotron2 weights were trained for torchaudio's WaveRNN vocoder: "
                    "the weights of its Griffin-Lim bundles (tacotron2_english_*_1500_epochs_"
                    "ljspeech.pth) make the LJSpeech HiFi-GAN mel, or vocode this mel with "
                    "Griffin-Lim set to the same mel")
        raise MelMismatchError(
            f"{model.name} makes mels of {describe_mel(model.audio)}, but {vocoder_name} was "
            f"trained on {describe_mel(audio)} ({', '.join(differs)} differ): it cannot "
            f"vocode them{hint}")
    if isinstance(vocoder, AudioConfig):
        return
    scale = mel_scale(frontend)
    if scale != NATURAL_LOG_SCALE:
        family = getattr(frontend, "name", "")
        raise MelMismatchError(
            f"{model.name} makes mels of {NATURAL_LOG_SCALE}, but {vocoder_name} takes "
            f"{family + ' ' if family else ''}mels of another scale ({scale}), with the same "
            f"STFT settings ({describe_mel(audio)}): it cannot vocode them; choose a vocoder "
            "that takes natural-log mels (HiFi-GAN, SpeechBrain, BigVGAN) or Griffin-Lim")


__all__ = ["AcousticModel", "DecoderStopError", "MEL_FIELDS", "MelMismatchError",
           "NATURAL_LOG_SCALE", "SentenceMel", "check_mel_pairing", "describe_mel",
           "hifigan_ljspeech_mel", "mel_scale", "same_mel", "wavernn_ljspeech_mel"]
