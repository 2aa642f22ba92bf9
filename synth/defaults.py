"""Names of the models hifisynth uses unless told otherwise, the reserved vocoder names, and
the feature layer kNN-VC uses.

Kept apart from :mod:`synth.pipeline` so the ``synth`` command can show them in ``--help``
without importing torch.
"""

DEFAULT_MEL_VOCODER = "hifigan-v3-ljspeech"
DEFAULT_VC_VOCODER = "knnvc-hifigan-prematched"
DEFAULT_EXTRACTOR = "wavlm-large"
GRIFFINLIM = "griffinlim"  # Griffin-Lim inversion of the mel: no weights, only when asked for
NO_VOCODER = "none"  # no mel vocoder: text to speech returns the espeak-ng base voice as it is
DEFAULT_EXTRACTOR_ARCH = "WAVLM_LARGE"  # architecture of an extractor given as a weights file
MAX_TEXT_CHARS = 10_000  # longest text spoken at once by default (about 11 minutes of speech)
#: The feature layer kNN-VC uses (WavLM-Large's ``SPEAKER_INFORMATION_LAYER``); the layer of any
#: extractor whose registry entry records none.
KNNVC_LAYER = 6
#: The acoustic model (text -> mel) unless told otherwise: the first of
#: DEFAULT_ACOUSTIC_MODELS whose weights are in the model cache, else the espeak-ng base voice.
AUTO_ACOUSTIC = "auto"
DEFAULT_ACOUSTIC_MODELS = ("tacotron2-characters-ljspeech", "tacotron2-phonemes-ljspeech")
ESPEAK = "espeak"  # the espeak-ng base voice as the text frontend (its audio, not a mel)
