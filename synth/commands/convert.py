"""``synth convert SRC.wav --reference REF.wav ... -o out.wav``: kNN-VC voice conversion."""

from __future__ import annotations

import argparse

from synth.commands.common import add_limit_options, add_vocoder_options, check_output, make_synthesizer, report

DESCRIPTION = """\
Voice conversion with kNN-VC: every frame of the source speech (WavLM features) is replaced by
the mean of its k nearest frames in the target voice, and the feature vocoder turns the result
into 16 kHz audio at -16 LUFS. The target is reference speech (--reference, a few minutes is
best, one clip works) or a voice saved by 'synth voice' (--voice). Exit codes: 0 done, 1 a
model could not be fetched, 2 bad input.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert", help="voice conversion (kNN-VC) of a recording into a target voice",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", metavar="SRC", help="speech to convert (audio file)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--reference", nargs="+", action="extend", metavar="REF",
                        help="reference clips (or folders of clips) of the target voice")
    target.add_argument("--voice", metavar="SET.pt", help="a voice saved by 'synth voice'")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="WAV file to write")
    add_vocoder_options(parser, mel=False, vc=True)
    add_limit_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    out = check_output(args.output)
    synth = make_synthesizer(args)
    voice = args.voice if args.voice else args.reference
    result = synth.convert(args.source, voice)
    result.save(out)
    report(result, out)
    return 0
