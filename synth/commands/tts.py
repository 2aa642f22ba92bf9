"""``synth tts "text" -o out.wav [--acoustic NAME|PATH|espeak] [--vocoder NAME|PATH]
[--voice REF.wav|SET.pt] [--seed N] [--mel-out M.npy]``: text to speech."""

from __future__ import annotations

import argparse
import sys

from synth.commands.common import (add_limit_options, add_vocoder_options, check_output,
                                   make_synthesizer, report)

DESCRIPTION = """\
Speak text: English normalisation (numbers, dates, currency, abbreviations), split into
sentences, then an acoustic model makes the mel the vocoder turns into speech, sentences
joined with natural pauses.

Acoustic model (--acoustic): Tacotron2 (torchaudio's LJSpeech weights: by registry name,
tacotron2-characters-ljspeech or tacotron2-phonemes-ljspeech, or a torchaudio Tacotron2
.pth file), or 'espeak' (the espeak-ng base voice through the mel vocoder). The default,
'auto', is Tacotron2 when its weights are in the model cache, else the espeak-ng base voice
with a note saying how to get Tacotron2. Tacotron2's prenet keeps its dropout at inference
(as published): --seed N makes the result reproducible (a new seed is drawn and printed
otherwise). The vocoder must have been trained on Tacotron2's mel (the LJSpeech HiFi-GAN
mel: the published and torchaudio HiFi-GAN vocoders, SpeechBrain's, Griffin-Lim); another
one is refused before anything runs.

--voice converts the speech into that voice with kNN-VC (16 kHz output): Tacotron2's speech
after its vocoder, or the base voice's audio directly. --mel-out writes the mel that was
vocoded (float32 (num_mels, frames), .npy). TEXT '-' reads the text from standard input.
Exit codes: 0 done, 1 a model could not be fetched, 2 bad input.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tts", help="text to speech (Tacotron2 or the base voice, optionally in a target voice)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("text", metavar="TEXT", help="what to say ('-' reads standard input)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="WAV file to write")
    parser.add_argument("--voice", action="append", metavar="REF.wav|SET.pt",
                        help="speak in this voice: a reference clip (repeat for several), a "
                             "folder of clips, or a voice saved by 'synth voice'")
    add_acoustic_options(parser)
    parser.add_argument("--mel-out", metavar="M.npy",
                        help="also write the mel that was vocoded (float32, (num_mels, frames))")
    add_vocoder_options(parser, mel=True, vc=True)
    add_limit_options(parser, text=True)
    parser.set_defaults(handler=run)


def add_acoustic_options(parser: argparse.ArgumentParser, *, batch: bool = False) -> None:
    """``--acoustic`` and ``--seed`` (for ``synth batch``: the seed items' seeds derive from)."""
    from synth.defaults import AUTO_ACOUSTIC

    group = parser.add_argument_group("text to mel")
    group.add_argument("--acoustic", default=AUTO_ACOUSTIC, metavar="NAME|PATH|espeak",
                       help="acoustic model for text: a registry name (see 'synth models "
                            "list'), a torchaudio Tacotron2 .pth file, 'espeak' (the espeak-ng "
                            "base voice) or 'auto' (default: Tacotron2 when its weights are in "
                            "the model cache, else espeak)")
    if batch:
        group.add_argument("--seed", type=seed_arg, default=0, metavar="N",
                           help="Tacotron2's random draws: each text item's seed is derived "
                                "from N and its id, so reruns, resumed runs and shards give "
                                "the same audio (default %(default)s)")
    else:
        group.add_argument("--seed", type=seed_arg, metavar="N",
                           help="Tacotron2's random draws (its prenet dropout): the same text, "
                                "seed and models give the same audio (default: a new seed, "
                                "printed)")


def seed_arg(text: str) -> int:
    """An argparse type: an integer seed from 0 to 2**31 - 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"must be from 0 to {2**31 - 1}, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from synth.cli import CommandError

    # Standard input is read up to one character past the limit (the limit then says so).
    text = sys.stdin.read(args.max_text_chars + 1) if args.text == "-" else args.text
    if not text.strip():
        raise CommandError("empty text: give something to say")
    out = check_output(args.output)
    mel_out = check_output(args.mel_out, ".npy") if args.mel_out else None
    synth = make_synthesizer(args, acoustic=args.acoustic)
    voice = None
    if args.voice:
        voice = args.voice[0] if len(args.voice) == 1 else args.voice
    espeak = isinstance(synth.pick_acoustic(), str)
    if mel_out is not None and espeak and (voice is not None or not synth.has_mel_vocoder()):
        raise CommandError("--mel-out: no mel is vocoded when the espeak-ng base voice is "
                           + ("converted into a --voice" if voice is not None
                              else "spoken without a vocoder (--vocoder none)")
                           + "; use Tacotron2 (--acoustic), or no --mel-out")
    result = synth.speak(text, voice=voice, seed=args.seed)
    if mel_out is not None:
        from vocoder.atomic import save_npy

        save_npy(mel_out, result.mel.float().cpu().numpy())
    result.save(out)
    detail = result.acoustic + (f", seed {result.speech.seed}" if result.speech else "")
    report(result, out, detail)
    if espeak and args.acoustic.strip().lower() == "auto" and synth.has_mel_vocoder():
        print(f"synth: note: {tacotron2_hint(synth)}", file=sys.stderr)
    if result.speech is not None and result.speech.spelled:
        print("synth: note: spelled out letter by letter (not in the pronouncing dictionary): "
              + ", ".join(result.speech.spelled), file=sys.stderr)
    return 0


def tacotron2_hint(synth) -> str:
    """One line: the base voice spoke because no Tacotron2 is here, and how to get one."""
    from synth.defaults import DEFAULT_ACOUSTIC_MODELS

    registry = synth.hub.cache.registry
    known = [registry.get(n) for n in DEFAULT_ACOUSTIC_MODELS if n in registry]
    how = (f"run `synth models download {known[0].name}` ({known[0].size_text}, torchaudio's "
           "LJSpeech weights) or give --acoustic PATH" if known
           else "give a torchaudio Tacotron2 file with --acoustic PATH")
    return (f"spoken by the espeak-ng base voice: no Tacotron2 weights are in the model cache; "
            f"for neural text to speech {how}")

