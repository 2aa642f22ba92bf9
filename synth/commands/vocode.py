"""``synth vocode MEL.npy -o out.wav``: a mel spectrogram from another TTS system -> audio."""

from __future__ import annotations

import argparse

from synth.commands.common import add_limit_options, add_vocoder_options, check_output, make_synthesizer, report

DESCRIPTION = """\
Vocode a log-mel spectrogram saved as .npy, shape (num_mels, frames) or (1, num_mels, frames),
in the mel the vocoder takes (for the default vocoder: 22.05 kHz, n_fft 1024, hop 256, 80
Slaney mels 0-8000 Hz, natural log with floor 1e-5, as HiFi-GAN and Tacotron 2 use; for
another toolkit's vocoder its toolkit's mel: SpeechBrain's natural log, ESPnet's raw log10 mel
before its statistics normalisation, Coqui's normalised dB mel).
Exit codes: 0 done, 1 a model could not be fetched, 2 bad input.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "vocode", help="mel spectrogram (.npy) from another TTS system -> audio",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mel", metavar="MEL.npy", help="log-mel array file")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="WAV file to write")
    add_vocoder_options(parser, mel=True)
    add_limit_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from synth.cli import CommandError

    out = check_output(args.output)
    synth = make_synthesizer(args)
    if not synth.has_mel_vocoder():
        raise CommandError("vocoding a mel needs a mel vocoder; --vocoder none has none")
    result = synth.vocode(args.mel)
    result.save(out)
    report(result, out)
    return 0
