"""The ``vocoder`` command: ``mel`` (audio -> mel files), ``infer`` (mels or audio -> audio),
``convert`` (another toolkit's HiFi-GAN -> the published layout), ``train``
(:mod:`vocoder.train`) and ``eval`` (:mod:`vocoder.evaluate`).

Every subcommand reports an error the user can act on (any
:class:`~vocoder.errors.HifisynthError`) as one line on stderr, ``vocoder: error: ...``, with
a hint naming the option to change where the error is about one, and exits with the error's
exit code (2 for bad input); outputs are written atomically, so an interrupted run leaves no
partial file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .atomic import make_dir
from .audio import MAX_SECONDS, list_audio, load_audio, read_header, save_wav, stream_audio
from .config import AudioConfig
from .errors import HifisynthError, InputError, one_line, shown

#: Hints for errors about a setting (their ``key``) whose option is not simply ``--<key>``.
HINTS = {
    "train_wavs": "give --train-wavs DIR or --train-list FILE",
    "init_from": "to change settings, start a new --output-dir with --init-from CKPT",
    "input_features_dir": "feature files go in --input-features-dir DIR",
}


class UsageError(InputError):
    """Bad input from the user: printed as one line, exit status 2; ``key`` names the option
    it is about, if any."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def error_line(exc: HifisynthError, args: argparse.Namespace | None = None) -> str:
    """``vocoder: error: <message>`` on one line, plus a hint naming the option to change
    when the error is about a setting (its ``key``) that this subcommand has an option for."""
    from .models.errors import ModelUnavailableError

    line = f"vocoder: error: {one_line(exc)}"
    key = getattr(exc, "key", None)
    if key and args is not None and key in vars(args):
        line += f" ({HINTS.get(key, 'see --' + key.replace('_', '-'))})"
    if isinstance(exc, ModelUnavailableError) and exc.offline:
        line += " (HIFISYNTH_OFFLINE=1 forbids downloading: unset it to download the model)"
    return line


def _input_files(directory: str, suffixes: tuple[str, ...] | None, what: str) -> list[Path]:
    path = Path(directory)
    if not path.is_dir():
        raise UsageError(f"{shown(path)}: input directory not found")
    if suffixes is None:
        files = list_audio(path)
    else:
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise UsageError(f"{shown(path)}: no {what} files found in the input directory")
    return files


def _progress(items: Sequence[Path], desc: str):
    """A progress bar on stderr when it is a terminal (none in logs and pipes, where a
    failing run's stderr is then its one error line)."""
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="file", file=sys.stderr, dynamic_ncols=True,
                disable=None)


def _note(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


def add_max_seconds(p: argparse.ArgumentParser, default: float = MAX_SECONDS,
                    why: str = "a file is held in memory whole, with its mel and output") -> None:
    """The ``--max-seconds`` option: the longest audio file a subcommand reads."""
    p.add_argument("--max-seconds", type=positive_float, default=default, metavar="S",
                   help=f"longest audio file read (default %(default)g s: {why})")


def positive_float(text: str) -> float:
    """An argparse type: a number greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _read_wav_for(path: Path, audio: AudioConfig, max_seconds: float | None,
                  min_samples: int | None = None) -> np.ndarray:
    """Mono float audio at the config's rate (resampled, with a note), long enough for the mel
    frontend (``min_samples``; default one hop, and more than HiFi-GAN's reflect padding)."""
    _header_with_note(path, audio)
    wav, _ = load_audio(path, audio.sampling_rate, max_seconds=max_seconds)
    _check_long_enough(path, len(wav), audio, min_samples)
    return wav


def _header_with_note(path: Path, audio: AudioConfig):
    """The file's header (an unusable rate is refused here, before decoding), with a note when
    it will be resampled."""
    info = read_header(path)
    if info.sample_rate != audio.sampling_rate:
        _note(f"{shown(path.name)}: resampling from {info.sample_rate} Hz to the config's "
              f"{audio.sampling_rate} Hz")
    return info


def _check_long_enough(path: Path, samples: int, audio: AudioConfig,
                       min_samples: int | None = None) -> None:
    need = audio.min_samples if min_samples is None else min_samples
    if samples < need:
        raise UsageError(f"{shown(path)}: audio of {samples} samples is too short: the mel "
                         f"frontend needs at least {need} (at least one hop of "
                         f"{audio.hop_size} samples, and more than its padding)")


def _mel_of(mel_fn, wav: np.ndarray, path: Path, device=None):
    """The mel of a whole waveform, computed in chunks (vocoder.melchunks); a frontend's
    complaint about the audio becomes a one-line error naming the file."""
    import torch

    from .melchunks import chunked_mel

    try:
        return chunked_mel(mel_fn, torch.from_numpy(wav))
    except ValueError as exc:
        if isinstance(exc, HifisynthError):
            raise
        raise UsageError(f"{shown(path)}: {one_line(exc)}") from None


# ----------------------------------------------------------------------------- vocoder mel

def _add_mel(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "mel", help="compute HiFi-GAN log-mel spectrograms of audio files",
        description="Write one <stem>.npy per audio file in --input-wavs: float32 array of shape "
                    "(num_mels, frames), frames = samples // hop_size, computed exactly as the "
                    "published HiFi-GAN does; with --checkpoint (or a family's mel preset), the "
                    "mel that vocoder's toolkit computes (SpeechBrain, ESPnet, Coqui TTS: "
                    "1 + samples // hop_size frames). Audio at another sample rate is resampled "
                    "to the config's rate (a note says so); stereo is averaged to mono.")
    p.add_argument("--config",
                   help="published config.json, a preset (v1, v2, v3, knnvc) or a family's mel "
                        "preset (" + ", ".join(_mel_presets()) + "); with --checkpoint: the "
                        "vocoder's own config file")
    p.add_argument("--checkpoint", metavar="NAME|CKPT",
                   help="compute the mel this vocoder expects (its family's mel, e.g. "
                        "SpeechBrain's or ESPnet's): " + CHECKPOINT_HELP)
    add_family_option(p)
    p.add_argument("--input-wavs", required=True, metavar="DIR", help="directory of audio files")
    p.add_argument("--output-dir", required=True, metavar="OUT", help="where to write .npy files")
    p.set_defaults(run=_run_mel)


def _mel_presets() -> list[str]:
    from .mel import MEL_PRESETS

    return list(MEL_PRESETS)


def add_family_option(p: argparse.ArgumentParser) -> None:
    """``--family``, for the subcommands that load a checkpoint."""
    from .checkpoint import family_names

    p.add_argument("--family", choices=family_names(), type=str.lower,
                   help="the checkpoint's family; default: the registry's, or detected from the "
                        "files beside it")


#: How every subcommand that loads a vocoder describes what it takes.
CHECKPOINT_HELP = ("a registry name (see `synth models list`; downloaded into the model cache "
                   "on first use) or a generator file: published g_XXXXXXXX, torchaudio or "
                   "kNN-VC file, or another toolkit's (SpeechBrain generator.ckpt, ESPnet "
                   "checkpoint-*.pkl, Coqui model_file.pth, BigVGAN bigvgan_generator.pt, a "
                   "TorchScript export) with its config files beside it")


def load_checkpoint(args: argparse.Namespace, device: str = "cpu", dtype: str = "float32"):
    """The vocoder ``--checkpoint`` (or ``source``) names, with its family's mel: a registry
    name (fetched into the cache ``HIFISYNTH_HOME`` names, unless ``HIFISYNTH_OFFLINE``) or a
    file; ``--family`` and ``--config`` override the registry's."""
    from .models import ModelCache, load_named_vocoder

    name = getattr(args, "checkpoint", None) or args.source
    return load_named_vocoder(ModelCache.from_env(), name, args.family, args.config,
                              device=device, dtype=dtype)


def _frontend(args: argparse.Namespace):
    """The mel frontend ``vocoder mel`` uses: the checkpoint's family's, a mel preset's, or
    the published one with the config's settings."""
    from .mel import MEL_PRESETS, HiFiGANMel, mel_preset

    if args.checkpoint:
        loaded = load_checkpoint(args)
        if loaded.frontend is None:
            raise UsageError(f"{args.checkpoint}: a feature-input vocoder takes features, not "
                             "mels")
        return loaded.frontend
    if args.family:
        raise UsageError("--family names a checkpoint's family; give --checkpoint too")
    if not args.config:
        raise UsageError("give --config (a config.json or preset) or --checkpoint")
    if args.config.lower() in MEL_PRESETS and not Path(args.config).is_file():
        return mel_preset(args.config)
    from .config import load_audio_config

    return HiFiGANMel(load_audio_config(args.config))  # a mel needs no generator


def _run_mel(args: argparse.Namespace) -> int:
    from .audio import resampled_length
    from .melchunks import write_mel_file

    mel_fn = _frontend(args)
    audio = mel_fn.audio
    files = _input_files(args.input_wavs, None, "audio")
    out_dir = make_dir(args.output_dir)
    for path in _progress(files, "mel"):
        # Streamed: the audio is read, resampled and turned into mel chunk by chunk, and the
        # .npy written as it goes, so a file of any length takes the same memory.
        info = _header_with_note(path, audio)
        if info.frames > 0:
            samples = resampled_length(info.frames, info.sample_rate, audio.sampling_rate)
            blocks = stream_audio(path, audio.sampling_rate)
        else:  # a stream whose header does not say its length: read it whole (bounded)
            wav, _ = load_audio(path, audio.sampling_rate)
            samples, blocks = len(wav), [wav]
        _check_long_enough(path, samples, audio, mel_fn.min_samples)
        try:
            write_mel_file(out_dir / f"{path.stem}.npy", mel_fn, blocks, samples,
                           source=str(path))
        except ValueError as exc:
            if isinstance(exc, HifisynthError):
                raise
            raise UsageError(f"{shown(path)}: {one_line(exc)}") from None
    _note(f"wrote {len(files)} mel files to {shown(out_dir)}")
    return 0


# --------------------------------------------------------------------------- vocoder infer

def _add_infer(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "infer", help="turn mel (or feature) arrays or audio into 16-bit WAV files",
        description="Vocode every .npy array in --input-mels (shape (num_mels, frames) or "
                    "(1, num_mels, frames); (input_dim, frames) for a feature vocoder), or "
                    "resynthesise every audio file in --input-wavs through the mel frontend, "
                    "writing <stem>.wav (16-bit PCM at the config's sample rate) to --output-dir.")
    p.add_argument("--checkpoint", required=True, metavar="NAME|CKPT",
                   help="the vocoder: " + CHECKPOINT_HELP + "; --input-wavs then uses that "
                        "family's mel, and --input-mels are taken as that mel (see README: "
                        "which mel each family expects)")
    p.add_argument("--config", help="config.json or preset (v1, v2, v3, knnvc), or the family's "
                                    "config file or mel preset; default: the registry's, or "
                                    "the config file beside the checkpoint")
    add_family_option(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input-mels", metavar="DIR", help="directory of .npy arrays")
    src.add_argument("--input-wavs", metavar="DIR", help="directory of audio files (copy synthesis)")
    p.add_argument("--output-dir", required=True, metavar="OUT")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                   help="compute dtype; bfloat16 is about 1.6x faster than float32 on CPUs with "
                        "AVX512-BF16/AMX (and usually on GPUs); float16 needs a GPU")
    add_max_seconds(p)
    p.set_defaults(run=_run_infer)


def _run_infer(args: argparse.Namespace) -> int:
    from .frames import load_npy

    loaded = load_checkpoint(args, device=args.device, dtype=args.dtype)
    voc, audio = loaded.vocoder, loaded.audio
    if args.input_wavs and loaded.frontend is None:
        raise UsageError(f"{args.checkpoint}: a feature-input vocoder cannot resynthesise audio "
                         "through mels; give --input-mels with (input_dim, frames) feature "
                         "arrays, or use `synth convert`")
    if args.input_mels:
        files = _input_files(args.input_mels, (".npy",), ".npy")
    else:
        files = _input_files(args.input_wavs, None, "audio")
    out_dir = make_dir(args.output_dir)
    mel_fn = loaded.frontend if args.input_wavs else None
    audio_seconds = 0.0
    started = time.perf_counter()
    for path in _progress(files, "infer"):
        if mel_fn is None:
            frames = voc.check_frames(load_npy(path), shown(path))
            seconds = frames.shape[-1] * voc.upsample_factor / audio.sampling_rate
            if seconds > args.max_seconds:
                raise UsageError(f"{shown(path)}: {frames.shape[-1]} frames make {seconds:.1f} s "
                                 f"of audio, longer than the limit of {args.max_seconds:g} s",
                                 key="max_seconds")
        else:
            wav = _read_wav_for(path, audio, args.max_seconds, mel_fn.min_samples)
            frames = _mel_of(mel_fn, wav, path).unsqueeze(0)
        wav_out = voc(frames)[0].cpu().numpy()
        save_wav(out_dir / f"{path.stem}.wav", wav_out, audio.sampling_rate)
        audio_seconds += len(wav_out) / audio.sampling_rate
    elapsed = time.perf_counter() - started
    rtf = elapsed / audio_seconds if audio_seconds else float("nan")
    print(f"{len(files)} files, {audio_seconds:.2f} s of audio in {elapsed:.2f} s: "
          f"real-time factor {rtf:.3f} ({1 / rtf:.1f}x faster than real time) "
          f"on {voc.device} {str(getattr(voc, 'dtype', 'float32')).removeprefix('torch.')}")
    return 0


# ------------------------------------------------------------------------- vocoder convert

def _add_convert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert", help="write another toolkit's HiFi-GAN in the published training layout",
        description="Load a HiFi-GAN-shaped vocoder of any family (SpeechBrain, ESPnet / "
                    "ParallelWaveGAN, Coqui TTS, or the published layouts) and write OUT/"
                    "g_00000000 ({'generator': state_dict} with weight norm) and OUT/config.json "
                    "(its shape, audio settings and the family's mel and padding), so `vocoder "
                    "infer` gives the same audio from it and `vocoder train --init-from "
                    "OUT/g_00000000` fine-tunes it. BigVGAN and TorchScript exports are not "
                    "HiFi-GAN-shaped and cannot be converted.")
    p.add_argument("source", metavar="SRC", help="the vocoder: " + CHECKPOINT_HELP)
    p.add_argument("-o", "--output-dir", required=True, metavar="DIR")
    p.add_argument("--config", help="the family's config file or mel preset; default: the "
                                    "registry's, or the config file beside SRC")
    add_family_option(p)
    p.set_defaults(run=_run_convert)


def _run_convert(args: argparse.Namespace) -> int:
    from .checkpoint import save_converted

    loaded = load_checkpoint(args)
    path = save_converted(loaded, args.output_dir)
    print(f"wrote {path} and {path.parent / 'config.json'} ({loaded.family} vocoder, "
          f"{loaded.audio.sampling_rate} Hz, {loaded.vocoder.upsample_factor} samples per frame)")
    return 0


# --------------------------------------------------------------------- vocoder train / eval

def _add_train(sub: argparse._SubParsersAction) -> None:
    from . import train

    p = sub.add_parser(
        "train", help="train or fine-tune a HiFi-GAN (resumes a run directory automatically)",
        description="Train a HiFi-GAN vocoder with the published recipe. Checkpoints g_XXXXXXXX / "
                    "do_XXXXXXXX (published layout) and config.json go to --output-dir; running "
                    "the same command again resumes from the latest checkpoint. Multi-GPU: "
                    "torchrun --nproc_per_node N -m vocoder train ...")
    train.add_arguments(p)
    p.set_defaults(run=train.run)


def _add_eval(sub: argparse._SubParsersAction) -> None:
    from . import evaluate

    p = sub.add_parser(
        "eval", help="resynthesise audio and report mel L1, multi-resolution STFT, PESQ, STOI",
        description="Resynthesise every audio file in --input-wavs with --checkpoint (or compare "
                    "the files of --compare-wavs with them) and report, per file and on average: "
                    "mel L1 (fmax_for_loss mels), multi-resolution STFT distance, wideband PESQ "
                    "(at 16 kHz) and STOI. A table, or JSON with --json.")
    evaluate.add_arguments(p)
    p.set_defaults(run=evaluate.run)


# ------------------------------------------------------------------------------------ main

SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_mel, _add_infer, _add_convert, _add_train, _add_eval]


def _version() -> str:
    from . import __version__
    from .dependencies import version_line

    return version_line("vocoder", __version__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vocoder",
        description="HiFi-GAN vocoder: mel spectrograms, inference, training and evaluation, "
                    "compatible with the published checkpoints and configs.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .inference import tune_cpu_allocator

    tune_cpu_allocator()  # process-wide, for this command only: 1.2-1.7x on CPU (benchmarks)
    try:
        return args.run(args) or 0
    except HifisynthError as exc:
        print(error_line(exc, args), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vocoder: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
