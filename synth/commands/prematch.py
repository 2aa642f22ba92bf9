"""``synth prematch``: training features rewritten as kNN averages of the same speaker."""

from __future__ import annotations

import argparse

from synth.commands.corpus_options import (INPUT_HELP, add_device_options, add_extractor_options,
                                           add_input_options, add_output_options, finish,
                                           positive_float, positive_int)

DESCRIPTION = f"""\
Prematch a training corpus for a kNN-VC feature vocoder: each utterance's features are
replaced, frame by frame, by the mean of the k (default 4) nearest frames (cosine distance)
among all OTHER utterances of the same speaker - never the utterance itself, never another
speaker - and written to OUT/<id>.npy, (frames, dim) as the input. Train with
'vocoder train --input-features-dir OUT' (see docs/prematch.md).

{INPUT_HELP}
Speakers (one of):
  --speaker-from-dir [LEVEL]  the directory LEVEL levels above each audio file (default 1,
                              the parent; LibriSpeech speaker/chapter/utt.flac: 2)
  --speaker-column N          field N of each --train-list line (the id is field 1;
                              'id|speaker' -> 2, 'id|text|speaker' -> 3)
  --speakers FILE             a file of 'id|speaker' lines
  --single-speaker            one speaker (e.g. LJSpeech)

Features: --features-dir DIR reads the files written by 'synth features' (<id>.npy or
<id>.pt); without it they are extracted on the fly (--extractor, --layer...), one matching
pool at a time. A speaker with more than --pool-minutes of speech is split into pools of
about that much (utterances dealt round-robin by id); each utterance is matched within its
pool, which bounds memory (about 370 MB for 30 minutes of 1024-dim features) and time.

Resuming: an utterance whose OUT/<id>.npy exists is skipped; a pool whose outputs all exist
is not loaded, a speaker whose outputs all exist not even looked at. OUT/features.json
records the settings (k, speakers, pools, model, layer, dtype); a run with other settings
into the same OUT is refused (use --overwrite).
A bad item (missing or unreadable features or audio, a speaker with only one usable
utterance, an utterance without a speaker) is reported and the rest go on; a summary at the
end lists the bad items.
Exit codes: 0 all done, 1 some items were bad (see the summary) or a model could not be
fetched, 2 bad command input.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prematch", help="rewrite training features as kNN matches from the same speaker",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_options(parser)
    group = parser.add_argument_group("speakers")
    who = group.add_mutually_exclusive_group(required=True)
    who.add_argument("--speaker-from-dir", type=positive_int, nargs="?", const=1,
                     metavar="LEVEL", help="speaker = the directory LEVEL levels above the "
                                           "audio file (default 1: its parent)")
    who.add_argument("--speaker-column", type=positive_int, metavar="N",
                     help="speaker = field N of each --train-list line (the id is field 1)")
    who.add_argument("--speakers", metavar="FILE", help="file of 'id|speaker' lines")
    who.add_argument("--single-speaker", action="store_true",
                     help="all utterances are one speaker")
    add_output_options(parser)
    group = parser.add_argument_group("matching")
    group.add_argument("-k", type=positive_int, default=4, metavar="K",
                       help="nearest frames averaged (default %(default)s, as kNN-VC)")
    group.add_argument("--pool-minutes", type=positive_float, default=30.0, metavar="M",
                       help="most speech per matching pool (default %(default)s)")
    group.add_argument("--no-pool-limit", action="store_true",
                       help="one pool per speaker however much speech it has")
    group.add_argument("--knn-memory-mb", type=positive_float, default=256.0, metavar="MB",
                       help="distance-matrix memory per kNN chunk (default %(default)s)")
    group = parser.add_argument_group("features")
    group.add_argument("--features-dir", metavar="DIR",
                       help="read <id>.npy / <id>.pt features written by 'synth features' "
                            "instead of extracting them")
    add_extractor_options(parser, title="feature extractor (without --features-dir)")
    add_device_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from synth.cli import CommandError
    from synth.commands.corpus_options import (device_from_args, extractor_given,
                                               load_extractor_from_args, utterances_from_args)
    from synth.corpus import SpeakerSource, assign_speakers
    from synth.featurefiles import report
    from synth.prematch import ExtractedFeatures, FeatureFiles, PrematchConfig, prematch_corpus

    if args.speaker_column is not None and args.train_list is None:
        raise CommandError("--speaker-column goes with --train-list")
    if args.features_dir is not None and extractor_given(args):
        raise CommandError("--features-dir reads features already extracted; --extractor, "
                           "--extractor-arch and --layer go without it")
    utterances = utterances_from_args(args)
    speakers = SpeakerSource(dir_level=args.speaker_from_dir, column=args.speaker_column,
                             map_file=args.speakers, single=args.single_speaker)
    assigned, problems = assign_speakers(utterances, speakers)
    for utt, reason in problems:
        report(f"skipping {utt.where}: {reason}")
    if args.features_dir is not None:
        source = FeatureFiles(args.features_dir, device_from_args(args))
    else:
        extractor, layer, _ = load_extractor_from_args(args)
        source = ExtractedFeatures(extractor, layer)
    config = PrematchConfig(k=args.k, pool_minutes=None if args.no_pool_limit
                            else args.pool_minutes, knn_memory_mb=args.knn_memory_mb,
                            save_dtype=args.save_dtype)
    summary = prematch_corpus(assigned, args.output_dir, source, config,
                              speakers=speakers.describe(), overwrite=args.overwrite,
                              progress=not args.quiet)
    summary.total += len(problems)
    summary.failed[:0] = [(utt.where, reason) for utt, reason in problems]
    return finish(summary, args, assigned, "prematch")
