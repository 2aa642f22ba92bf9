"""``synth batch MANIFEST --output-dir OUT``: many utterances, batched, resumable, shardable."""

from __future__ import annotations

import argparse
import sys

from synth.commands.common import add_limit_options, add_vocoder_options, make_synthesizer
from synth.commands.tts import add_acoustic_options

DESCRIPTION = """\
Synthesise every utterance of a manifest into OUT/<id>.wav.

Manifest (UTF-8; blank lines and lines starting with '#' are skipped):
  plain text    one utterance per line; its id is the line number (0001, 0002, ...)
  id|text       or id|text|voice
  JSONL         {"id": "a1", "text": "..."} or {"id": "a2", "source": "in.wav"}, each with an
                optional "voice" (path or list of paths); a .jsonl file or first line '{'
Paths are relative to the manifest's folder. A voice is a saved voice (.pt), a reference clip
or a folder of clips. Text items go through the acoustic model (--acoustic, as for 'synth
tts': Tacotron2 when its weights are in the model cache, else the espeak-ng base voice), each
with its own seed derived from --seed and its id (so reruns, resumed runs and shards give the
same audio). Text items without a voice and source items (copy synthesis) go through the mel
vocoder, grouped by length into padded batches (same output as one at a time).

Resuming: an item whose OUT/<id>.wav exists is skipped (files are written atomically, so an
existing file is complete); run the same command again after a crash or kill.
Sharding: --shard I/N (0 <= I < N) takes items I, I+N, I+2N, ... of the manifest, so N
processes (or machines, or GPUs) share one job, each item done exactly once; under torchrun,
RANK/WORLD_SIZE are used when --shard is not given (and --device auto picks cuda:LOCAL_RANK).
A bad item (empty text, unreadable source, unknown voice, bad line) is reported and the rest
go on. The summary JSON (default OUT/summary.json, or OUT/summary-shard-I-of-N.json) lists
done, skipped and failed items with reasons, audio seconds and the real-time factor (RTF =
processing seconds per second of audio; lower is faster).
Exit codes: 0 every item done or skipped, 1 some items failed (see the summary) or a model
could not be fetched, 2 bad command input (unreadable manifest, bad --shard).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch", help="synthesise a manifest of utterances (resumable, shardable)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", metavar="MANIFEST", help="text, id|text[|voice] or JSONL file")
    parser.add_argument("--output-dir", required=True, metavar="OUT", help="where <id>.wav go")
    parser.add_argument("--batch-size", type=int, default=16, metavar="N",
                        help="utterances per vocoder call (default %(default)s)")
    parser.add_argument("--shard", metavar="I/N",
                        help="do shard I of N (counting from 0); default: RANK/WORLD_SIZE "
                             "under torchrun, else the whole manifest")
    parser.add_argument("--summary", metavar="PATH", help="where to write the summary JSON")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo items whose output exists instead of skipping them")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_acoustic_options(parser, batch=True)
    add_vocoder_options(parser, mel=True, vc=True)
    add_limit_options(parser, text=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from synth.batch import (BatchRunner, BatchSummary, default_summary_path, parse_shard,
                             read_manifest, shard_from_env, shard_items)
    from synth.cli import CommandError, error_line
    from vocoder.errors import HifisynthError
    from synth.commands.tts import tacotron2_hint

    if args.batch_size < 1:
        raise CommandError(f"--batch-size must be at least 1, got {args.batch_size}")
    try:
        shard = parse_shard(args.shard) if args.shard else (shard_from_env() or (0, 1))
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    out_dir = Path(args.output_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise CommandError(f"{out_dir}: --output-dir exists and is not a folder")
    items = shard_items(read_manifest(args.manifest), *shard)
    synth = make_synthesizer(args, acoustic=args.acoustic)
    picked = synth.pick_acoustic()
    summary = BatchSummary(manifest=str(args.manifest), output_dir=str(out_dir), shard=shard,
                           settings={"vocoder": synth.config.vocoder,
                                     "acoustic": getattr(picked, "label", picked),
                                     "seed": args.seed, "device": str(synth.device),
                                     "dtype": str(synth.dtype).removeprefix("torch."),
                                     "batch_size": args.batch_size})
    runner = BatchRunner(synth, out_dir, batch_size=args.batch_size, overwrite=args.overwrite,
                         progress=not args.quiet, seed=args.seed,
                         explain=lambda exc: error_line(exc, args).removeprefix("synth: error: "))
    path = Path(args.summary) if args.summary else default_summary_path(out_dir, shard)
    try:
        runner.run(items, summary)
    except BaseException:  # a model missing, an interrupt, a bug: what was done is recorded
        try:
            summary.save(path)
        except HifisynthError:
            pass  # the run's own error is the one to report
        raise
    summary.save(path)
    if (isinstance(picked, str) and args.acoustic.strip().lower() == "auto"
            and synth.has_mel_vocoder() and any(i.text is not None for i in items)):
        print(f"synth: note: text items were {tacotron2_hint(synth)}", file=sys.stderr)
    rtf = summary.rtf
    print(f"shard {shard[0]}/{shard[1]}: {summary.done} done, {summary.skipped} skipped, "
          f"{len(summary.failed)} failed of {summary.items}; {summary.audio_seconds:.1f} s of "
          f"audio in {summary.processing_seconds:.1f} s"
          + (f" (RTF {rtf:.3f})" if rtf is not None else "") + f"; summary: {path}",
          file=sys.stdout)
    return 1 if summary.failed else 0
