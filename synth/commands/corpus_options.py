"""Options shared by ``synth features`` and ``synth prematch``: the corpus, the extractor,
the output. Not a sub-command itself (not listed in :data:`synth.cli.COMMANDS`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from synth.defaults import DEFAULT_EXTRACTOR, DEFAULT_EXTRACTOR_ARCH, KNNVC_LAYER
from vocoder.cli import positive_float  # noqa: F401 - one argparse type for both commands

DEFAULT_ARCH = DEFAULT_EXTRACTOR_ARCH

INPUT_HELP = """\
Input (one of):
  --input-wavs DIR     the audio files in DIR (with --recursive: and in its subdirectories)
  --train-list FILE    an LJSpeech-style list of 'id|...' lines, read as 'vocoder train
                       --train-list' reads it: an id means <wavs-dir>/<id>.wav (default wavs/
                       beside the list), an entry with an extension or a '/' is a path
                       relative to the list's folder
An utterance's features go to OUT/<id>.npy, <id> being the audio file's stem (what 'vocoder
train --input-features-dir' looks up), so stems must be unique.
"""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def shard_spec(text: str) -> tuple[int, int]:
    """``I/N`` with ``0 <= I < N``."""
    try:
        index, count = (int(p) for p in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N (e.g. 0/4), got {text!r}") from None
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"need 0 <= I < N, got {text!r}")
    return index, count


def add_input_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("input")
    source = group.add_mutually_exclusive_group(required=True)
    source.add_argument("--input-wavs", metavar="DIR", help="directory of audio files")
    source.add_argument("--train-list", metavar="FILE", help="LJSpeech-style list ('id|...')")
    group.add_argument("--recursive", action="store_true",
                       help="with --input-wavs: also the audio in its subdirectories")
    group.add_argument("--wavs-dir", metavar="DIR",
                       help="with --train-list: where ids are found (default: wavs/ beside the "
                            "list)")


def add_extractor_options(parser: argparse.ArgumentParser, title: str = "feature extractor"
                          ) -> None:
    group = parser.add_argument_group(title)
    group.add_argument("--extractor", metavar="NAME|PATH|DIR",
                       help=f"SSL model: a registry name (default {DEFAULT_EXTRACTOR}; see "
                            "'synth models list'), a torchaudio-format state-dict file of the "
                            "architecture --extractor-arch, or a Hugging Face model directory "
                            "(config.json and weights, as save_pretrained writes them: "
                            "Wav2Vec2, HuBERT, WavLM, Wav2Vec2-Conformer, data2vec-audio)")
    group.add_argument("--extractor-arch", metavar="ARCH|JSON",
                       help="architecture of an --extractor file: a torchaudio bundle name "
                            f"(default {DEFAULT_ARCH}; HUBERT_BASE, WAV2VEC2_BASE...) or a JSON "
                            "file of torchaudio factory arguments with \"model_type\" "
                            "(wav2vec2, hubert or wavlm)")
    group.add_argument("--layer", type=positive_int, metavar="N",
                       help="transformer layer, counting from 1; for a Hugging Face directory "
                            "transformers' hidden_states[N] (default: the registry's kNN-VC "
                            "layer, else 6)")


def add_device_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("device")
    group.add_argument("--device", default="auto",
                       help="auto (CUDA if present), cpu, cuda, cuda:N (default %(default)s)")
    group.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                       help="extractor compute dtype (float16 needs a GPU; default %(default)s)")


def add_output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--output-dir", required=True, metavar="OUT",
                       help="where <id>.npy (frames, dim) files and features.json go")
    group.add_argument("--save-dtype", default="float16", choices=["float16", "float32"],
                       help="dtype of the written arrays (default %(default)s, as kNN-VC)")
    group.add_argument("--write-list", metavar="FILE",
                       help="at the end, write a list of the utterances whose features are in "
                            "OUT (one audio path per line, relative to FILE's folder), for "
                            "'vocoder train --train-list'")
    group.add_argument("--overwrite", action="store_true",
                       help="redo every utterance (default: skip those whose OUT/<id>.npy exists, "
                            "i.e. resume)")
    group.add_argument("--quiet", action="store_true", help="no progress bar")


def utterances_from_args(args: argparse.Namespace):
    """The corpus named by the input options (unique ids)."""
    from synth.cli import CommandError
    from synth.corpus import list_utterances

    if args.recursive and args.input_wavs is None:
        raise CommandError("--recursive goes with --input-wavs")
    if args.wavs_dir is not None and args.train_list is None:
        raise CommandError("--wavs-dir goes with --train-list")
    return list_utterances(args.input_wavs, args.train_list, args.wavs_dir, args.recursive)


def extractor_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, k) is not None for k in ("extractor", "extractor_arch", "layer"))


def load_extractor_from_args(args: argparse.Namespace):
    """``(extractor, layer, device)`` from ``--extractor``/``--extractor-arch``/``--layer``/
    ``--device``/``--dtype``, loaded by a :class:`synth.hub.ModelHub` (a registry name is
    fetched into the model cache if needed)."""
    import torch

    from synth.cli import CommandError
    from synth.commands.common import ARCH_WITH_DIRECTORY
    from synth.hub import ModelHub
    from synth.loaders import default_layer, feature_extractor_spec, hf_directory
    from vocoder.errors import InputError
    from vocoder.inference import pick_dtype

    device = device_from_args(args)
    try:
        dtype = pick_dtype(args.dtype, device)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    hub = ModelHub.from_env(device=device)
    spec = feature_extractor_spec(args.extractor or DEFAULT_EXTRACTOR,
                                  args.extractor_arch or DEFAULT_ARCH, args.layer or KNNVC_LAYER)
    entry = hub.entry(spec)
    directory = hf_directory(hub, spec)
    if entry is not None:
        if entry.kind != "feature_extractor":
            raise CommandError(f"--extractor {entry.name}: a {entry.kind.replace('_', ' ')}, not "
                               "a feature extractor")
        if args.extractor_arch is not None:
            raise CommandError("--extractor-arch goes with an --extractor file, not a registry "
                               "name (the registry gives the architecture)")
    elif directory is not None and args.extractor_arch is not None:
        raise CommandError(ARCH_WITH_DIRECTORY)
    try:
        extractor = hub.load(spec)
    except InputError as exc:
        if args.extractor_arch and str(exc).startswith(f"{args.extractor_arch}:"):
            raise CommandError(f"--extractor-arch {exc}") from None
        if directory is not None and str(exc).startswith("layer must be"):
            given = f"--layer {args.layer}" if args.layer else f"--layer (default {KNNVC_LAYER})"
            raise CommandError(f"{given}: {exc}") from None
        raise CommandError(str(exc)) from None
    layer = int(args.layer or default_layer(hub, spec) or KNNVC_LAYER)
    if not 1 <= layer <= extractor.num_layers:
        raise CommandError(f"--layer {layer}: {extractor.name} has transformer layers "
                           f"1..{extractor.num_layers} (counting from 1)")
    if dtype != torch.float32:
        extractor = extractor.to(dtype)
    return extractor, layer, device


def device_from_args(args: argparse.Namespace):
    from synth.cli import CommandError
    from vocoder.inference import pick_device

    try:
        return pick_device(args.device)
    except (ValueError, RuntimeError) as exc:
        raise CommandError(f"--device {args.device}: {exc}") from None


def write_list(path: str | os.PathLike, utterances, output_dir: str | os.PathLike) -> int:
    """Write the audio paths of the utterances that have ``OUT/<id>.npy`` (relative to the
    list's folder), atomically; returns how many."""
    from synth.featurefiles import output_path
    from vocoder.atomic import write_text

    path = Path(path)
    lines = []
    for utt in utterances:
        if output_path(output_dir, utt.id).is_file():
            entry = os.path.relpath(os.path.abspath(utt.audio), os.path.abspath(path.parent))
            lines.append(entry if utt.speaker is None else f"{entry}|{utt.speaker}")
    write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def finish(summary, args: argparse.Namespace, utterances, what: str) -> int:
    """Print the summary, write ``--write-list``; exit code 0, or 1 if items failed."""
    from synth.featurefiles import report

    print(f"synth {what}: {summary.message(args.output_dir)}", file=sys.stderr)
    if args.write_list:
        count = write_list(args.write_list, utterances, args.output_dir)
        report(f"synth {what}: wrote {count} utterance(s) to {args.write_list}")
    return 1 if summary.failed else 0
