"""``synth tts "text" -o out.wav [--voice REF.wav|SET.pt] [--vocoder NAME|PATH]``: text to speech."""

from __future__ import annotations

import argparse
import sys

from synth.commands.common import add_limit_options, add_vocoder_options, check_output, make_synthesizer, report

DESCRIPTION = """\
Speak text: English normalisation (numbers, abbreviations, punctuation), the espeak-ng base
voice sentence by sentence with natural pauses, then either the mel vocoder (default) or, with
--voice, kNN-VC voice conversion into that voice (16 kHz output; the mel vocoder is not used).
TEXT '-' reads the text from standard input. Exit codes: 0 done, 1 a model could not be
fetched, 2 bad input.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tts", help="text to speech (base voice, optionally in a target voice)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("text", metavar="TEXT", help="what to say ('-' reads standard input)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="WAV file to write")
    parser.add_argument("--voice", action="append", metavar="REF.wav|SET.pt",
                        help="speak in this voice: a reference clip (repeat for several), a "
                             "folder of clips, or a voice saved by 'synth voice'")
    add_vocoder_options(parser, mel=True, vc=True)
    add_limit_options(parser, text=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from synth.cli import CommandError

    # Standard input is read up to one character past the limit (the limit then says so).
    text = sys.stdin.read(args.max_text_chars + 1) if args.text == "-" else args.text
    if not text.strip():
        raise CommandError("empty text: give something to say")
    out = check_output(args.output)
    synth = make_synthesizer(args)
    voice = None
    if args.voice:
        voice = args.voice[0] if len(args.voice) == 1 else args.voice
    result = synth.speak(text, voice=voice)
    result.save(out)
    report(result, out)
    return 0
