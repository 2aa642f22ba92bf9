"""Acoustic models: text -> log-mel frames for a vocoder.

- :mod:`.interface` - :class:`AcousticModel` (what every text-to-mel model offers),
  :class:`SentenceMel`, and :func:`check_mel_pairing` (a model's mel must be its vocoder's).
- :mod:`.speech` - :func:`text_to_mel`: normalise, split into sentences, batch, seed, join.
- :mod:`.tokens` - torchaudio's character and phoneme symbol sets and tokenizers.
- :mod:`.tacotron2` - Tacotron2 through ``torchaudio.models.Tacotron2`` (imports torchaudio).
"""

from .interface import (AcousticModel, DecoderStopError, MelMismatchError, SentenceMel,
                        check_mel_pairing, hifigan_ljspeech_mel, wavernn_ljspeech_mel)
from .speech import Speech, SpeechConfig, new_seed, text_to_mel

__all__ = ["AcousticModel", "DecoderStopError", "MelMismatchError", "SentenceMel", "Speech",
           "SpeechConfig", "check_mel_pairing", "hifigan_ljspeech_mel", "new_seed",
           "text_to_mel", "wavernn_ljspeech_mel"]
