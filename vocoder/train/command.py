"""``vocoder train``: its options, and the entry point that decides what is process-wide.

:class:`TrainOptions` is everything the command takes, typed; :func:`run` reads torchrun's
environment (:meth:`Distributed.from_environment`), picks the device, joins the process group,
lets cuDNN pick its fastest kernels on GPUs (training shapes are fixed), and runs
:func:`vocoder.train.loop.train`. Messages name settings by their field names (``max_steps``);
the ``vocoder`` command adds the matching flags (``--max-steps``).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from ..config import ConfigError

PRECISION_NAMES = ("32", "bf16", "fp16")


@dataclass
class TrainOptions:
    """Everything ``vocoder train`` takes (see ``vocoder train --help``); the fields are the
    options' names with ``_`` for ``-``."""

    config: str
    output_dir: Path
    train_wavs: str | None = None
    train_list: str | None = None
    wavs_dir: str | None = None
    valid_list: str | None = None
    valid_wavs: str | None = None
    input_mels_dir: str | None = None
    input_features_dir: str | None = None
    init_from: str | None = None
    max_steps: int | None = None
    batch_size: int | None = None
    precision: str = "32"
    device: str = "auto"
    checkpoint_interval: int = 5000
    validation_interval: int = 1000
    log_interval: int = 100
    keep_last: int = 5
    num_workers: int | None = None
    max_frame_mismatch: int = 2
    progress: bool = True
    log_audio: int = 4

    def check(self) -> "TrainOptions":
        """Check the values; returns self.

        Raises:
            ConfigError: naming the option (``key``) and the value.
        """
        for name in ("checkpoint_interval", "validation_interval", "log_interval"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"'{name}' must be positive, got {getattr(self, name)}", key=name)
        if self.max_steps is not None and self.max_steps <= 0:
            raise ConfigError(f"'max_steps' must be positive, got {self.max_steps}",
                              key="max_steps")
        if self.batch_size is not None and self.batch_size <= 0:
            raise ConfigError(f"'batch_size' must be positive, got {self.batch_size}",
                              key="batch_size")
        if self.precision not in PRECISION_NAMES:
            raise ConfigError(f"'precision' must be one of {', '.join(PRECISION_NAMES)}, "
                              f"got {self.precision!r}", key="precision")
        if self.train_wavs is None and self.train_list is None:
            raise ConfigError("no training data: give a directory of audio or a file list",
                              key="train_wavs")
        if self.keep_last < 0:
            raise ConfigError(f"'keep_last' must be >= 0, got {self.keep_last}", key="keep_last")
        if self.num_workers is not None and self.num_workers < 0:
            raise ConfigError(f"'num_workers' must be >= 0, got {self.num_workers}",
                              key="num_workers")
        return self


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``vocoder train`` options."""
    p.add_argument("--config", required=True,
                   help="published HiFi-GAN config.json (or preset v1, v2, v3, knnvc): audio, "
                        "generator, batch_size, learning_rate, adam_b1/b2, lr_decay, segment_size, "
                        "seed; a config with hubert_dim/hifi_dim trains a feature vocoder")
    p.add_argument("--output-dir", required=True, metavar="RUN",
                   help="run directory: g_/do_ checkpoints, config.json, logs/ (TensorBoard). "
                        "If it holds checkpoints, training resumes from the latest")
    p.add_argument("--train-wavs", metavar="DIR", help="directory of training audio (all files in it)")
    p.add_argument("--train-list", metavar="FILE",
                   help="LJSpeech-style list of 'id|text' lines; ids are looked up as "
                        "<wavs-dir>/<id>.wav (entries with an extension or '/' are paths)")
    p.add_argument("--wavs-dir", metavar="DIR",
                   help="where list ids are found (default: --train-wavs, else wavs/ beside the list)")
    p.add_argument("--valid-list", metavar="FILE", help="validation list (same format)")
    p.add_argument("--valid-wavs", metavar="DIR", help="directory of validation audio")
    p.add_argument("--input-mels-dir", metavar="DIR",
                   help="fine-tuning: <id>.npy mels (num_mels, frames) predicted by a TTS model; "
                        "targets are the real audio. Up to --max-frame-mismatch frames of "
                        "difference are cut off the longer side; larger ones skip the file")
    p.add_argument("--input-features-dir", metavar="DIR",
                   help="feature vocoder: <id>.npy or <id>.pt arrays of shape (frames, dim), "
                        "one frame per prod(upsample_rates) samples")
    p.add_argument("--max-frame-mismatch", type=int, default=2, metavar="N",
                   help="frames that input arrays may differ from samples // hop (default 2)")
    p.add_argument("--init-from", metavar="CKPT",
                   help="start a new run from a generator checkpoint (and the do_ file beside a "
                        "g_XXXXXXXX); optimisers and steps start fresh. Ignored when RUN already "
                        "holds checkpoints")
    p.add_argument("--max-steps", type=int, metavar="N", help="stop after N steps (default: never)")
    p.add_argument("--batch-size", type=int, metavar="B",
                   help="global batch size (overrides the config's; split across processes)")
    p.add_argument("--precision", default="32", choices=list(PRECISION_NAMES),
                   help="32 (default), bf16 (recommended on GPUs that have it) or fp16 (with a "
                        "gradient scaler)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument("--checkpoint-interval", type=int, default=5000, metavar="N",
                   help="write g_/do_ every N steps (and at the end); default 5000")
    p.add_argument("--keep-last", type=int, default=5, metavar="K",
                   help="keep the newest K checkpoint pairs (0: all); default 5")
    p.add_argument("--validation-interval", type=int, default=1000, metavar="N",
                   help="validate every N steps; default 1000")
    p.add_argument("--log-interval", type=int, default=100, metavar="N",
                   help="TensorBoard scalars every N steps; default 100")
    p.add_argument("--num-workers", type=int, metavar="N",
                   help="data loader processes (default: the config's num_workers, at most the "
                        "number of CPUs)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def options_from_args(args: argparse.Namespace) -> TrainOptions:
    """The :class:`TrainOptions` of parsed ``vocoder train`` arguments."""
    return TrainOptions(
        config=args.config, output_dir=Path(args.output_dir), train_wavs=args.train_wavs,
        train_list=args.train_list, wavs_dir=args.wavs_dir, valid_list=args.valid_list,
        valid_wavs=args.valid_wavs, input_mels_dir=args.input_mels_dir,
        input_features_dir=args.input_features_dir, init_from=args.init_from,
        max_steps=args.max_steps, batch_size=args.batch_size, precision=args.precision,
        device=args.device, checkpoint_interval=args.checkpoint_interval,
        validation_interval=args.validation_interval, log_interval=args.log_interval,
        keep_last=args.keep_last, num_workers=args.num_workers,
        max_frame_mismatch=args.max_frame_mismatch, progress=not args.no_progress)


def run(args: argparse.Namespace) -> int:
    """``vocoder train``: one process, or one of torchrun's."""
    import torch

    from ..data import report
    from .distributed import Distributed
    from .loop import train

    options = options_from_args(args).check()
    process = Distributed.from_environment(os.environ)
    device = process.device(options.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed segment shapes: pick the fastest kernels
    process.join(device)
    try:
        pos = train(options, process, device)
    finally:
        process.leave()
    if process.main:
        report(f"stopped at step {pos.steps} (epoch {pos.epoch})")
    return 0


__all__ = ["PRECISION_NAMES", "TrainOptions", "add_arguments", "options_from_args", "run"]
