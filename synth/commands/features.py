"""``synth features``: one SSL feature file per utterance, for training a feature vocoder."""

from __future__ import annotations

import argparse

from synth.commands.common import add_limit_options
from synth.commands.corpus_options import (INPUT_HELP, add_device_options, add_extractor_options,
                                           add_input_options, add_output_options, finish,
                                           positive_float, shard_spec)

DESCRIPTION = f"""\
Extract self-supervised speech features (WavLM-Large layer 6 by default: kNN-VC's) for every
utterance of a corpus, one OUT/<id>.npy file each: float16 (or --save-dtype float32) array
of shape (frames, dim), frames = samples // 320 at 16 kHz (50 per second; the audio is
resampled to 16 kHz, averaged to mono and zero-padded at the end so that frame i starts at
sample 320 i). These are the inputs 'vocoder train --input-features-dir OUT' reads; prematch
them first with 'synth prematch' for a kNN-VC vocoder (see docs/prematch.md).

{INPUT_HELP}
Resuming: an utterance whose OUT/<id>.npy exists is skipped (files are written atomically, so
an existing file is complete); run the same command again after a crash or kill. OUT/
features.json records the model, layer, dim and dtype; a run with other settings into the
same OUT is refused (use --overwrite or another directory).
A bad item (unreadable audio, audio shorter than one frame) is reported and the rest go on;
a summary at the end lists the bad items.
Sharding: --shard I/N takes utterances I, I+N, I+2N, ... so N processes (GPUs, machines)
share one corpus, each writing into the same OUT.
Exit codes: 0 all done, 1 some items were bad (see the summary) or a model could not be
fetched, 2 bad command input.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "features", help="extract SSL features per utterance for feature-vocoder training",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_options(parser)
    add_output_options(parser)
    add_extractor_options(parser)
    add_device_options(parser)
    group = parser.add_argument_group("batching")
    group.add_argument("--batch-seconds", type=positive_float, default=60.0, metavar="S",
                       help="audio read and extracted at once (default %(default)s s)")
    group.add_argument("--shard", type=shard_spec, metavar="I/N",
                       help="do shard I of N (counting from 0): utterances I, I+N, ...")
    add_limit_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from synth.commands.corpus_options import load_extractor_from_args, utterances_from_args
    from synth.featurefiles import extract_corpus

    everything = utterances = utterances_from_args(args)
    if args.shard is not None:
        index, count = args.shard
        utterances = everything[index::count]
    extractor, layer, _ = load_extractor_from_args(args)
    summary = extract_corpus(extractor, utterances, args.output_dir, layer,
                             save_dtype=args.save_dtype, batch_seconds=args.batch_seconds,
                             overwrite=args.overwrite, progress=not args.quiet,
                             max_seconds=args.max_seconds)
    return finish(summary, args, everything, "features")
