"""``synth voice REF.wav ... -o voice.pt``: save a target voice (kNN-VC matching set)."""

from __future__ import annotations

import argparse

from synth.commands.common import add_limit_options, add_vocoder_options, check_output, make_synthesizer

DESCRIPTION = """\
Save a voice (a kNN-VC matching set) for 'synth tts --voice' and 'synth convert --voice': the
WavLM features of every frame of the reference speech (silence at the ends of each clip
trimmed), stored as float16.
More reference speech gives better conversion (kNN-VC's authors suggest 5-8 minutes; a few
seconds work, roughly). The voice records the extractor and layer it was made with and is
refused by any other. Exit codes: 0 done, 1 a model could not be fetched, 2 bad input.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "voice", help="save a target voice (matching set) from reference clips",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("references", nargs="+", metavar="REF",
                        help="reference clips, or folders of clips")
    parser.add_argument("-o", "--output", required=True, metavar="VOICE.pt", help="file to write")
    add_vocoder_options(parser, mel=False, vc=True)
    add_limit_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    out = check_output(args.output, suffix=".pt")
    synth = make_synthesizer(args)
    voice = synth.save_voice(args.references, out)
    print(f"wrote {out} ({voice.num_frames} frames, {voice.seconds:.1f} s of speech from "
          f"{len(voice.sources)} clip(s); {voice.model} layer {voice.layer})")
    return 0
