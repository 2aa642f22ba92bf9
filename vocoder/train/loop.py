"""The training loop: :class:`Trainer` sets a run up (config, data, models, resume) and trains.

Around each :class:`~vocoder.train.step.TrainStep`: the epoch's batch order
(:class:`~vocoder.data.EpochBatchSampler`, so a resumed run continues mid-epoch), the
per-epoch learning-rate decay, checkpoints every ``checkpoint_interval`` steps and at the end
(:class:`~vocoder.train.state.TrainingState`), validation (mel L1, audio and mel images in
TensorBoard), scalars and a tqdm bar. With several processes (:class:`Distributed`), the
generator and discriminators are wrapped in DistributedDataParallel and only the main process
writes.

Nothing here changes process-wide settings or reads the environment: the entry point
(:func:`vocoder.train.command.run`) decides those and passes the process and device in.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..atomic import make_dir
from ..config import ConfigError, HiFiGANConfig, load_config
from ..data import (DataSpec, EpochBatchSampler, SegmentDataset, UtteranceDataset, collect_audio,
                    inventory, report)
from ..discriminators import HiFiGANDiscriminator
from ..errors import HifisynthError
from ..generator import HiFiGANGenerator
from ..mel import MelSpectrogram
from .command import TrainOptions
from .distributed import Distributed
from .state import (Position, TrainingState, list_checkpoints, plan_resume,
                    remove_stale_temp_files)
from .step import StepLosses, TrainStep, mean_losses

NONFINITE_LIMIT = 3


class TrainingDiverged(HifisynthError):
    """The losses stopped being finite; the run's last checkpoint is intact."""

    exit_code = 1


class Trainer:
    """Sets up a run (config, data, models, resume) and trains it; see the module docstring.

    Args:
        options: what to train on and how (checked here).
        process: this process among the training processes (default: the only one); with
            several, the entry point has joined the process group already.
        device: where to train (default: ``process.device(options.device)``).

    Raises:
        ConfigError, CheckpointError, AudioError: settings, data or checkpoints that cannot
            be used (messages name the file and the setting).
    """

    def __init__(self, options: TrainOptions, process: Distributed | None = None,
                 device: torch.device | None = None) -> None:
        options.check()
        self.opt = options
        self.dist = process or Distributed()
        self.device = device if device is not None else self.dist.device(options.device)
        self.log = report if self.dist.main else (lambda message: None)
        self.run_dir = Path(options.output_dir)
        self.config = self._load_config()
        t = self.config.train
        world = self.dist.world_size
        if t.batch_size % world:
            raise ConfigError(f"batch size {t.batch_size} is not divisible by the {world} "
                              "processes (it is the global batch, split across them)",
                              key="batch_size")
        self.batch_per_rank = t.batch_size // world
        if options.precision == "fp16" and self.device.type == "cpu":
            self.log("note: precision fp16 on CPU runs (for testing) but is slow; use bf16 or 32")
        self.spec = DataSpec.from_config(self.config, options.input_mels_dir,
                                         options.input_features_dir, options.max_frame_mismatch,
                                         source=options.config)
        steps = list_checkpoints(self.run_dir)
        latest = self.dist.broadcast(steps[-1] if steps else None)
        resume = plan_resume(self.run_dir, latest, self.config, options.config, options.init_from)

        # Data: each rank checks the files (cheap header reads), only rank 0 reports.
        train_files = collect_audio(options.train_wavs, options.train_list, options.wavs_dir)
        self.train_utts = inventory(train_files, self.spec, "training", log=self.log)
        self.valid_utts = []
        if options.valid_list or options.valid_wavs:
            valid_files = collect_audio(options.valid_wavs, options.valid_list, options.wavs_dir,
                                        what="validation")
            self.valid_utts = inventory(valid_files, self.spec, "validation", log=self.log,
                                        for_segments=False)
        self.sampler = EpochBatchSampler(len(self.train_utts), self.batch_per_rank, t.seed,
                                         self.dist.rank, world)

        self.state = TrainingState.start(self.config, resume, self.device, options.precision,
                                         world, self.sampler.batches_per_epoch)
        for note in resume.notes:
            self.log(note)

        g, d = self.generator, self.discriminator
        if world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            g = nn.parallel.DistributedDataParallel(g, device_ids=ids)
            d = nn.parallel.DistributedDataParallel(d, device_ids=ids)
        self.step = TrainStep(g, d, self.optim_g, self.optim_d, self.config, self.device,
                              options.precision, self.state.scaler,
                              input_from_audio=self.spec.mode == "audio")
        self.valid_mel = MelSpectrogram(self.config.audio).to(self.device)
        self._logged_truth = False
        if self.dist.main:
            make_dir(self.run_dir)
            remove_stale_temp_files(self.run_dir)
            self.config.save(self.run_dir / "config.json")

    # -- shortcuts to the training state ----------------------------------------------------

    @property
    def position(self) -> Position:
        return self.state.position

    @property
    def generator(self) -> HiFiGANGenerator:
        return self.state.generator

    @property
    def discriminator(self) -> HiFiGANDiscriminator:
        return self.state.discriminator

    @property
    def optim_g(self) -> torch.optim.Optimizer:
        return self.state.optim_g

    @property
    def optim_d(self) -> torch.optim.Optimizer:
        return self.state.optim_d

    # -- setup -------------------------------------------------------------------------------

    def _load_config(self) -> HiFiGANConfig:
        cfg = load_config(self.opt.config)
        if self.opt.batch_size is not None:
            cfg.train.batch_size = self.opt.batch_size
        cfg.train.validate(str(self.opt.config))
        return cfg

    def save_checkpoint(self) -> tuple[Path, Path]:
        """Write ``do_`` then ``g_`` (each atomically) and prune; rank 0 only."""
        return self.state.save(self.run_dir, self.config, self.opt.precision,
                               self.dist.world_size, self.opt.keep_last)

    # -- validation -----------------------------------------------------------------------

    @torch.no_grad()
    def validate(self, writer: Any = None) -> float | None:
        """Mean mel L1 (``fmax_for_loss`` mels) over the validation set; logs audio and mel
        images of the first ``log_audio`` files to TensorBoard. Rank 0 only; float32."""
        if not self.valid_utts:
            return None
        gen = self.generator
        gen.eval()
        loss_mel = self.step.loss_mel
        total, count = 0.0, 0
        dataset = UtteranceDataset(self.valid_utts, self.spec, log=self.log)
        sr = self.config.audio.sampling_rate
        try:
            for j in range(len(dataset)):
                item = dataset[j]
                if item is None:
                    continue
                frames, wav, _ = item
                wav = wav.to(self.device)
                if self.spec.mode == "audio":
                    if len(wav) <= self.valid_mel.pad:
                        continue
                    frames = self.valid_mel(wav)
                y_hat = gen(frames.to(self.device).unsqueeze(0)).squeeze(1)
                target = loss_mel(wav.unsqueeze(0))
                pred = loss_mel(y_hat)
                n = min(target.shape[-1], pred.shape[-1])
                total += float((target[..., :n] - pred[..., :n]).abs().mean())
                count += 1
                if writer is not None and j < self.opt.log_audio:
                    step = self.position.steps
                    if not self._logged_truth:
                        writer.add_audio(f"validation/truth_{j}", wav.cpu().unsqueeze(0), step, sr)
                        writer.add_figure(f"validation/mel_truth_{j}", _mel_figure(target[0]), step)
                    writer.add_audio(f"validation/generated_{j}", y_hat.cpu().clamp(-1, 1), step, sr)
                    writer.add_figure(f"validation/mel_generated_{j}", _mel_figure(pred[0]), step)
        finally:
            gen.train()
        self._logged_truth = True
        if count == 0:
            return None
        return total / count

    # -- loop -------------------------------------------------------------------------------

    def _loader(self) -> torch.utils.data.DataLoader:
        workers = self.opt.num_workers
        if workers is None:
            workers = min(self.config.train.num_workers, os.cpu_count() or 1)
        dataset = SegmentDataset(self.train_utts, self.spec, self.config.train.seed, log=self.log)
        return torch.utils.data.DataLoader(
            dataset, batch_sampler=self.sampler, num_workers=workers,
            pin_memory=self.device.type == "cuda", persistent_workers=workers > 0)

    def train(self) -> Position:
        """Train until ``max_steps`` (forever if ``None``); returns the final position.

        Raises:
            TrainingDiverged: the losses were not finite at ``NONFINITE_LIMIT`` log points in
                a row (the last checkpoint is intact).
        """
        opt, pos = self.opt, self.position
        if opt.max_steps is not None and pos.steps >= opt.max_steps:
            self.log(f"{self.run_dir}: already at step {pos.steps} (max_steps {opt.max_steps}); "
                     "nothing to do")
            return pos
        sched_g, sched_d, scaler = self.state.sched_g, self.state.sched_d, self.state.scaler
        writer = bar = None
        if self.dist.main:
            from torch.utils.tensorboard import SummaryWriter
            from tqdm import tqdm

            writer = SummaryWriter(str(self.run_dir / "logs"), purge_step=pos.steps + 1)
            bar = tqdm(total=opt.max_steps, initial=pos.steps, unit="step", dynamic_ncols=True,
                       file=sys.stderr, disable=not opt.progress, desc="train")
        loader = self._loader()
        acc: list[StepLosses] = []
        nonfinite = 0
        last_time, last_steps = time.perf_counter(), pos.steps
        try:
            while opt.max_steps is None or pos.steps < opt.max_steps:
                self.sampler.set_epoch(pos.epoch, pos.batch_in_epoch)
                for frames, audio in loader:
                    losses = self.step(frames, audio)
                    acc.append(losses)
                    pos.steps += 1
                    pos.batch_in_epoch += 1
                    if pos.batch_in_epoch >= self.sampler.batches_per_epoch:
                        sched_g.step()
                        sched_d.step()
                        pos.epoch += 1
                        pos.batch_in_epoch = 0
                    done = opt.max_steps is not None and pos.steps >= opt.max_steps
                    if bar is not None:
                        bar.update(1)
                    if pos.steps % opt.log_interval == 0 or done:
                        values = mean_losses(acc)
                        acc.clear()
                        if not all(math.isfinite(v) for v in values.values()):
                            nonfinite += 1
                            self.log(f"warning: non-finite losses at step {pos.steps}: {values}")
                            if nonfinite >= NONFINITE_LIMIT:
                                raise TrainingDiverged(
                                    f"training diverged: losses not finite at {nonfinite} log "
                                    f"points in a row (step {pos.steps}); resume from the last "
                                    "checkpoint with precision 32 or a lower learning rate")
                        else:
                            nonfinite = 0
                        now = time.perf_counter()
                        rate = (pos.steps - last_steps) / max(now - last_time, 1e-9)
                        last_time, last_steps = now, pos.steps
                        if writer is not None:
                            for k, v in values.items():
                                writer.add_scalar(f"train/{k}", v, pos.steps)
                            writer.add_scalar("train/learning_rate",
                                              self.optim_g.param_groups[0]["lr"], pos.steps)
                            writer.add_scalar("train/steps_per_sec", rate, pos.steps)
                            if scaler.is_enabled():
                                writer.add_scalar("train/grad_scale", scaler.get_scale(), pos.steps)
                        if bar is not None:
                            bar.set_postfix(loss_g=f"{values['loss_g_total']:.3f}",
                                            loss_d=f"{values['loss_d']:.3f}",
                                            mel=f"{values['mel_l1']:.3f}", epoch=pos.epoch)
                    if self.dist.main and (pos.steps % opt.checkpoint_interval == 0 or done):
                        g_path, _ = self.save_checkpoint()
                        if bar is not None:
                            bar.write(f"step {pos.steps}: saved {g_path.name}", file=sys.stderr)
                    if self.dist.main and self.valid_utts and pos.steps % opt.validation_interval == 0:
                        err = self.validate(writer)
                        if err is not None and writer is not None:
                            writer.add_scalar("validation/mel_l1", err, pos.steps)
                            if bar is not None:
                                bar.write(f"step {pos.steps}: validation mel L1 {err:.4f}",
                                          file=sys.stderr)
                    if done:
                        break
        finally:
            if bar is not None:
                bar.close()
            if writer is not None:
                writer.close()
        self.dist.barrier()
        return pos


def _mel_figure(mel: Tensor) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 2.5))
    ax = fig.add_subplot()
    im = ax.imshow(mel.float().cpu().numpy(), aspect="auto", origin="lower", interpolation="none")
    fig.colorbar(im, ax=ax)
    ax.set_xlabel("frame")
    ax.set_ylabel("mel bin")
    fig.tight_layout()
    return fig


def train(options: TrainOptions, process: Distributed | None = None,
          device: torch.device | None = None) -> Position:
    """Set up a run and train it (see :class:`Trainer`); returns where it stopped."""
    return Trainer(options, process, device).train()


__all__ = ["NONFINITE_LIMIT", "Trainer", "TrainingDiverged", "train"]
