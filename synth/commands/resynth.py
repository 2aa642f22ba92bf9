"""``synth resynth IN.wav -o out.wav``: copy synthesis, audio -> mel -> vocoder."""

from __future__ import annotations

import argparse

from synth.commands.common import add_limit_options, add_vocoder_options, check_output, make_synthesizer, report

DESCRIPTION = """\
Copy synthesis: compute the log-mel the vocoder expects of a recording (HiFi-GAN's, or its
toolkit's for SpeechBrain, ESPnet, Coqui and BigVGAN vocoders; resampled to the vocoder's rate,
stereo averaged) and turn it back into audio with the vocoder; how close the result is to the
input shows what the vocoder can do. Exit codes: 0 done, 1 a model could not be fetched,
2 bad input.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "resynth", help="copy synthesis: audio -> mel -> vocoder",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", metavar="IN", help="audio file")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="WAV file to write")
    add_vocoder_options(parser, mel=True)
    add_limit_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from synth.cli import CommandError

    out = check_output(args.output)
    synth = make_synthesizer(args)
    if not synth.has_mel_vocoder():
        raise CommandError("resynthesis needs a mel vocoder; --vocoder none has none")
    result = synth.resynthesize(args.input)
    result.save(out)
    report(result, out)
    return 0
