"""What loading a vocoder of any family gives: the vocoder, the mel it expects, its origin."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..config import AudioConfig, HiFiGANConfig
from ..inference import FrameVocoder


@dataclass
class LoadedVocoder:
    """A vocoder with the mel frontend it was trained on.

    Attributes:
        vocoder: frames ``(batch, input_channels, T)`` -> waveform ``(batch, T * hop)``.
        frontend: waveform -> the frames ``vocoder`` expects (a
            :class:`vocoder.mel.MelFrontend`); ``None`` for feature-input (kNN-VC) vocoders.
        family: ``hifigan``, ``speechbrain``, ``espnet``, ``coqui``, ``bigvgan``,
            ``torchscript`` (or ``griffinlim`` for the Griffin-Lim inversion of HiFi-GAN's mel).
        source: the files it came from, for messages.
        hifigan: for HiFi-GAN-shaped families, the generator and the family's settings as a
            jik876 ``config.json`` (what ``vocoder convert`` writes); else ``None``.
        generator_state: the generator's plain weights under jik876 names (with
            ``hifigan``), for conversion.
    """

    vocoder: FrameVocoder
    frontend: nn.Module | None
    family: str
    source: str
    hifigan: HiFiGANConfig | None = None
    generator_state: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def audio(self) -> AudioConfig:
        """Sample rate and mel settings."""
        return self.vocoder.audio

    @property
    def silence(self) -> float | None:
        """What a frame of silence holds in the mel this vocoder takes (its frontend's
        :attr:`~vocoder.mel.MelFrontend.silence`; ``None`` for feature-input vocoders): the
        value to pad batches of different lengths with."""
        return None if self.frontend is None else float(self.frontend.silence)


__all__ = ["LoadedVocoder"]
