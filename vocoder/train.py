"""The HiFi-GAN training loop behind ``vocoder train``.

One step is the published recipe (AdamW, LSGAN + feature matching x2 + mel L1 x45, per-epoch
exponential learning-rate decay), computed with less work and the same numbers (see
:class:`TrainStep`). Around it:

- checkpoints ``g_XXXXXXXX`` / ``do_XXXXXXXX`` in the published layout plus ``config.json``,
  written atomically every ``checkpoint_interval`` steps and at the end, the last K kept;
- automatic resume: a run directory holding checkpoints continues from the latest complete
  pair, with optimisers, schedulers, grad scaler and the position in the epoch's batch
  order, so the continuation is the one an uninterrupted run would have computed;
- validation (mel L1, audio and mel images in TensorBoard), scalars, a tqdm bar;
- DistributedDataParallel under ``torchrun`` (NCCL on GPU, gloo on CPU), rank 0 writes;
- precision ``32``, ``bf16`` or ``fp16`` (autocast; fp16 with a gradient scaler).

``XXXXXXXX`` is the number of optimizer steps completed. A published ``do_`` file (no
``hifisynth`` entry) counts steps from 0, so resuming one continues at its ``steps + 1`` as
the published trainer does, at the start of its saved epoch.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping

import torch
from torch import Tensor, nn

from .atomic import atomic_path
from .checkpoint import CheckpointError, load_generator, read_checkpoint, save_generator
from .config import ConfigError, HiFiGANConfig
from .data import (DataSpec, EpochBatchSampler, SegmentDataset, UtteranceDataset, collect_audio,
                   inventory, report)
from .discriminators import HiFiGANDiscriminator, load_discriminator_state, published_state_dict
from .generator import HiFiGANGenerator
from .losses import discriminator_loss, feature_loss, generator_adv_loss, generator_total, mel_l1
from .mel import MelSpectrogram

Precision = Literal["32", "bf16", "fp16"]
PRECISIONS: dict[str, torch.dtype | None] = {"32": None, "bf16": torch.bfloat16,
                                              "fp16": torch.float16}
CHECKPOINT_RE = re.compile(r"^(g|do)_(\d{8,})$")
STATE_KEY = "hifisynth"
STATE_FORMAT = 1
NONFINITE_LIMIT = 3
# Keys of config.json that do not change the numbers a run computes.
_NEUTRAL_KEYS = {"num_workers", "num_gpus", "dist_config", "num_freq"}


# ------------------------------------------------------------------------------ one step

def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (or the module itself)."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Parameters of ``module`` do not require grad inside the block."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


@dataclass
class StepLosses:
    """Detached float32 scalars of one step (on the training device)."""

    disc: Tensor
    gen_adv: Tensor
    feature: Tensor
    mel: Tensor  # unweighted L1

    @property
    def gen_total(self) -> Tensor:
        return generator_total(self.gen_adv, self.feature, self.mel)

    def as_floats(self) -> dict[str, float]:
        vals = torch.stack([self.disc, self.gen_adv, self.feature, self.mel, self.gen_total]).tolist()
        return dict(zip(["loss_d", "loss_g_adv", "loss_fm", "mel_l1", "loss_g_total"], vals))


class TrainStep:
    """One HiFi-GAN training step: a discriminator update, then a generator update.

    The numbers are those of the published step; the work is less:

    - each weight-normed sub-discriminator scores real and generated audio as one batch
      (see :meth:`HiFiGANDiscriminator.forward`);
    - in the generator update, real audio goes through the discriminators without autograd
      and the discriminators' parameters are frozen: the published step back-propagates
      into both (gradients it then discards), here only the generated branch's input
      gradients are computed;
    - fused AdamW (one kernel per step instead of a dozen passes per tensor), gradients
      freed with ``set_to_none``.

    Args:
        generator, discriminator: modules, possibly wrapped in DistributedDataParallel.
        optim_g, optim_d: their optimisers.
        config: audio settings (mel frontends).
        precision: ``32``, ``bf16`` or ``fp16`` (autocast; losses in float32).
        scaler: gradient scaler (``fp16``), shared by both updates.
        device: where batches are moved.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module,
                 optim_g: torch.optim.Optimizer, optim_d: torch.optim.Optimizer,
                 config: HiFiGANConfig, device: torch.device, precision: Precision = "32",
                 scaler: torch.amp.GradScaler | None = None, input_from_audio: bool = True) -> None:
        self.generator = generator
        self.discriminator = discriminator
        self.optim_g, self.optim_d = optim_g, optim_d
        self.device = device
        self.dtype = PRECISIONS[precision]
        self.scaler = scaler if scaler is not None else torch.amp.GradScaler(
            device.type, enabled=precision == "fp16")
        self.input_mel = MelSpectrogram(config.audio).to(device) if input_from_audio else None
        self.loss_mel = MelSpectrogram.for_loss(config.audio).to(device)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def __call__(self, frames: Tensor, audio: Tensor) -> StepLosses:
        """``frames``: ``(batch, channels, n)`` inputs (ignored in audio mode, where the input
        mel is computed from ``audio``); ``audio``: ``(batch, n * hop)`` targets."""
        audio = audio.to(self.device, non_blocking=True)
        with torch.no_grad():
            if self.input_mel is not None:
                frames = self.input_mel(audio)
            else:
                frames = frames.to(self.device, non_blocking=True)
            target_mel = self.loss_mel(audio)
        y = audio.unsqueeze(1)
        with self.autocast():
            y_hat = self.generator(frames)

        # Discriminator update on real and (detached) generated audio.
        self.optim_d.zero_grad(set_to_none=True)
        with self.autocast():
            out = self.discriminator(y, y_hat.detach())
        loss_d = discriminator_loss(out.real_scores, out.fake_scores)
        del out
        self.scaler.scale(loss_d).backward()
        self.scaler.step(self.optim_d)

        # Generator update: adversarial + feature matching + 45 x mel L1.
        self.optim_g.zero_grad(set_to_none=True)
        disc = unwrap(self.discriminator)
        with frozen(disc):
            with self.autocast():
                out = disc(y, y_hat, real_grad=False)
            loss_adv = generator_adv_loss(out.fake_scores)
            loss_fm = feature_loss(out.real_fmaps, out.fake_fmaps)
            loss_mel = mel_l1(self.loss_mel, y_hat, target_mel)
            loss_g = generator_total(loss_adv, loss_fm, loss_mel)
            del out
            self.scaler.scale(loss_g).backward()
        self.scaler.step(self.optim_g)
        self.scaler.update()
        return StepLosses(loss_d.detach(), loss_adv.detach(), loss_fm.detach(), loss_mel.detach())


def build_optimizers(generator: nn.Module, discriminator: HiFiGANDiscriminator,
                     config: HiFiGANConfig, fused: bool = True
                     ) -> tuple[torch.optim.AdamW, torch.optim.AdamW]:
    """AdamW for each side, published settings (weight decay 0.01, AdamW's default).

    The discriminator's parameters are ordered MSD first, then MPD, as in the published
    ``optim_d`` (so a published optimizer state maps onto the right tensors).
    """
    t = config.train
    kw: dict[str, Any] = dict(lr=t.learning_rate, betas=(t.adam_b1, t.adam_b2))
    if fused:
        kw["fused"] = True
    optim_g = torch.optim.AdamW(generator.parameters(), **kw)
    optim_d = torch.optim.AdamW(list(discriminator.msd.parameters()) +
                                list(discriminator.mpd.parameters()), **kw)
    return optim_g, optim_d


def load_optimizer(optim: torch.optim.Optimizer, state: Any, source: str) -> None:
    """Load an optimizer state (ours or a published one), keeping this optimizer's kernel
    choice (fused or not), and check every moment tensor's shape against its parameter.

    Raises:
        CheckpointError: the state does not describe these parameters.
    """
    if not isinstance(state, Mapping) or "param_groups" not in state or "state" not in state:
        raise CheckpointError(f"{source}: not an optimizer state")
    ours = optim.param_groups
    groups = [dict(g) for g in state["param_groups"]]
    if len(groups) != len(ours) or any(len(g["params"]) != len(o["params"])
                                       for g, o in zip(groups, ours)):
        counts = [len(g["params"]) for g in groups]
        raise CheckpointError(f"{source}: optimizer state is for {counts} parameters, this model "
                              f"has {[len(o['params']) for o in ours]}")
    for g, o in zip(groups, ours):
        g["fused"] = o.get("fused")
        g["foreach"] = o.get("foreach")
    try:
        optim.load_state_dict({"state": state["state"], "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{source}: cannot load optimizer state ({exc})") from None
    for group in optim.param_groups:
        for p in group["params"]:
            for key in ("exp_avg", "exp_avg_sq"):
                t = optim.state.get(p, {}).get(key)
                if t is not None and t.shape != p.shape:
                    raise CheckpointError(
                        f"{source}: optimizer moment of shape {tuple(t.shape)} for a parameter of "
                        f"shape {tuple(p.shape)}; the checkpoint's parameter order differs")


# ----------------------------------------------------------------------------- checkpoints

def list_checkpoints(run_dir: Path) -> list[int]:
    """Step numbers with both ``g_`` and ``do_`` files, ascending."""
    if not run_dir.is_dir():
        return []
    found: dict[int, set[str]] = {}
    for p in run_dir.iterdir():
        m = CHECKPOINT_RE.match(p.name)
        if m and p.is_file():
            found.setdefault(int(m.group(2)), set()).add(m.group(1))
    return sorted(n for n, kinds in found.items() if kinds == {"g", "do"})


def checkpoint_paths(run_dir: Path, steps: int) -> tuple[Path, Path]:
    return run_dir / f"g_{steps:08d}", run_dir / f"do_{steps:08d}"


def prune_checkpoints(run_dir: Path, keep_last: int) -> list[int]:
    """Delete all but the newest ``keep_last`` complete pairs (0 keeps all), and any
    incomplete file older than the oldest kept pair; returns the deleted step numbers."""
    if keep_last <= 0:
        return []
    complete = list_checkpoints(run_dir)
    if len(complete) <= keep_last:
        return []
    oldest_kept = complete[-keep_last]
    deleted = []
    for p in run_dir.iterdir():
        m = CHECKPOINT_RE.match(p.name)
        if m and int(m.group(2)) < oldest_kept:
            p.unlink(missing_ok=True)
            deleted.append(int(m.group(2)))
    return sorted(set(deleted))


def config_differences(run: HiFiGANConfig, given: HiFiGANConfig) -> list[str]:
    """Settings that change a run's numbers and differ between two configs."""
    a, b = run.to_dict(), given.to_dict()
    keys = [k for k in dict.fromkeys([*a, *b]) if k not in _NEUTRAL_KEYS]
    return [f"'{k}': run has {a.get(k)!r}, given {b.get(k)!r}" for k in keys if a.get(k) != b.get(k)]


# ------------------------------------------------------------------------------- options

@dataclass
class TrainOptions:
    """Everything ``vocoder train`` takes (see ``vocoder train --help``)."""

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
    precision: Precision = "32"
    device: str = "auto"
    checkpoint_interval: int = 5000
    validation_interval: int = 1000
    log_interval: int = 100
    keep_last: int = 5
    num_workers: int | None = None
    max_frame_mismatch: int = 2
    progress: bool = True
    log_audio: int = 4

    def check(self) -> None:
        for name in ("checkpoint_interval", "validation_interval", "log_interval"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got "
                                  f"{getattr(self, name)}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ConfigError(f"--max-steps must be positive, got {self.max_steps}")
        if self.batch_size is not None and self.batch_size <= 0:
            raise ConfigError(f"--batch-size must be positive, got {self.batch_size}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, "
                              f"got {self.precision!r}")
        if self.train_wavs is None and self.train_list is None:
            raise ConfigError("give --train-wavs DIR or --train-list FILE")
        if self.keep_last < 0:
            raise ConfigError(f"--keep-last must be >= 0, got {self.keep_last}")


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_arg: str) -> tuple[Distributed, torch.device]:
    """Join the process group when started by ``torchrun`` (``WORLD_SIZE`` > 1)."""
    from .inference import pick_device

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed(), pick_device(device_arg)
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device_arg == "auto":
        device = torch.device(f"cuda:{local}" if torch.cuda.is_available() else "cpu")
    else:
        device = pick_device(device_arg)
        if device.type == "cuda" and device.index is None:
            device = torch.device(f"cuda:{local}")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(rank, world, local), device


# --------------------------------------------------------------------------------- trainer

@dataclass
class Position:
    """Where training stands: completed steps, epoch, batches of that epoch done."""

    steps: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0


@dataclass
class _Resume:
    g_path: Path | None = None
    do: dict[str, Any] | None = None
    do_path: Path | None = None
    published: bool = False
    init_only: bool = False
    notes: list[str] = field(default_factory=list)


class Trainer:
    """Sets up a run (config, data, models, resume) and trains it; see the module docstring."""

    def __init__(self, options: TrainOptions) -> None:
        options.check()
        self.opt = options
        self.dist, self.device = setup_distributed(options.device)
        if self.device.type == "cpu":
            from .inference import tune_cpu_allocator

            tune_cpu_allocator()  # reuse large freed blocks instead of page-faulting them again
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed segment shapes: pick fastest kernels
        self.log = report if self.dist.main else (lambda message: None)
        self.run_dir = Path(options.output_dir)
        self.config = self._load_config()
        t = self.config.train
        world = self.dist.world_size
        if t.batch_size % world:
            raise ConfigError(f"batch size {t.batch_size} is not divisible by the {world} "
                              "processes (it is the global batch, split across them)")
        self.batch_per_rank = t.batch_size // world
        if options.precision == "fp16" and self.device.type == "cpu":
            self.log("note: --precision fp16 on CPU runs (for testing) but is slow; use bf16 or 32")
        self.spec = DataSpec.from_config(self.config, options.input_mels_dir,
                                         options.input_features_dir, options.max_frame_mismatch,
                                         source=options.config)
        resume = self._find_resume()

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

        # Models, built from the seed so every rank starts equal.
        torch.manual_seed(t.seed)
        self.generator = HiFiGANGenerator(self.config.generator, weight_norm=True)
        self.discriminator = HiFiGANDiscriminator.from_config(self.config)
        self.position = Position()
        self._load_weights(resume)
        self.generator.to(self.device).train()
        self.discriminator.to(self.device).train()
        self.optim_g, self.optim_d = build_optimizers(self.generator, self.discriminator,
                                                      self.config)
        gamma = t.lr_decay
        self.sched_g = torch.optim.lr_scheduler.ExponentialLR(self.optim_g, gamma=gamma)
        self.sched_d = torch.optim.lr_scheduler.ExponentialLR(self.optim_d, gamma=gamma)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=options.precision == "fp16")
        self._load_training_state(resume)
        for note in resume.notes:
            self.log(note)

        g, d = self.generator, self.discriminator
        if world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            g = nn.parallel.DistributedDataParallel(g, device_ids=ids)
            d = nn.parallel.DistributedDataParallel(d, device_ids=ids)
        self.step = TrainStep(g, d, self.optim_g, self.optim_d, self.config, self.device,
                              options.precision, self.scaler,
                              input_from_audio=self.spec.mode == "audio")
        self.valid_mel = MelSpectrogram(self.config.audio).to(self.device)
        self._logged_truth = False
        if self.dist.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            for stale in self.run_dir.glob(".*.tmp"):  # left by a kill during a write
                if CHECKPOINT_RE.match(stale.name[1:].split(".", 1)[0]):
                    stale.unlink(missing_ok=True)
            self.config.save(self.run_dir / "config.json")

    # -- setup -----------------------------------------------------------------------------

    def _load_config(self) -> HiFiGANConfig:
        from .checkpoint import resolve_config

        cfg, _ = resolve_config("", self.opt.config)
        if self.opt.batch_size is not None:
            cfg.train.batch_size = self.opt.batch_size
        return cfg

    def _find_resume(self) -> _Resume:
        run, opt = self.run_dir, self.opt
        steps = list_checkpoints(run)
        if self.dist.world_size > 1:
            import torch.distributed as dist

            box = [steps[-1] if steps else None]
            dist.broadcast_object_list(box, src=0)
            steps = [box[0]] if box[0] is not None else []
        if steps:
            g_path, do_path = checkpoint_paths(run, steps[-1])
            run_cfg_path = run / "config.json"
            if run_cfg_path.is_file():
                diffs = config_differences(HiFiGANConfig.load(run_cfg_path), self.config)
                if diffs:
                    raise ConfigError(
                        f"{opt.config} contradicts the run in {run} (resuming {g_path.name}): "
                        + "; ".join(diffs) + ". Use the run's config.json, or start a new "
                        "--output-dir with --init-from to change them")
            do = read_checkpoint(do_path)
            res = _Resume(g_path, do, do_path, published=STATE_KEY not in do)
            res.notes.append(f"resuming {run} from {g_path.name} / {do_path.name}"
                             + (" (published layout)" if res.published else ""))
            if opt.init_from:
                res.notes.append(f"note: {run} already holds checkpoints, so --init-from "
                                 f"{opt.init_from} is ignored")
            return res
        if opt.init_from:
            g_path = Path(opt.init_from)
            res = _Resume(g_path, init_only=True)
            m = CHECKPOINT_RE.match(g_path.name)
            do_path = g_path.with_name(f"do_{m.group(2)}") if m and m.group(1) == "g" else None
            if do_path is not None and do_path.is_file():
                res.do, res.do_path = read_checkpoint(do_path), do_path
                res.notes.append(f"initialised generator from {g_path} and discriminators from "
                                 f"{do_path.name}; optimisers and step count start fresh")
            else:
                res.notes.append(f"initialised generator from {g_path}; no do_ file beside it, "
                                 "so the discriminators start from scratch")
            return res
        return _Resume()

    def _load_weights(self, res: _Resume) -> None:
        if res.g_path is not None:
            loaded, _ = load_generator(res.g_path, self.config, weight_norm=True)
            self.generator.load_state_dict(loaded.state_dict())
        if res.do is not None:
            for name in ("mpd", "msd"):
                if name not in res.do:
                    raise CheckpointError(f"{res.do_path}: no '{name}' entry; not a HiFi-GAN "
                                          "do_ checkpoint")
                try:
                    load_discriminator_state(getattr(self.discriminator, name), res.do[name],
                                             f"{res.do_path} '{name}'")
                except ValueError as exc:
                    raise CheckpointError(str(exc)) from None

    def _load_training_state(self, res: _Resume) -> None:
        if res.do is None or res.init_only:
            return
        do, src = res.do, res.do_path
        for key in ("optim_g", "optim_d", "steps", "epoch"):
            if key not in do:
                raise CheckpointError(f"{src}: no '{key}' entry; cannot resume training from it")
        load_optimizer(self.optim_g, do["optim_g"], f"{src} 'optim_g'")
        load_optimizer(self.optim_d, do["optim_d"], f"{src} 'optim_d'")
        epoch = int(do["epoch"])
        if res.published:
            self.position = Position(int(do["steps"]) + 1, max(epoch, 0), 0)
            for sched in (self.sched_g, self.sched_d):
                sched.last_epoch = max(epoch, 0)  # keep the saved learning rate
            return
        state = do[STATE_KEY]
        self.position = Position(int(do["steps"]), epoch, int(state["batch_in_epoch"]))
        self.sched_g.load_state_dict(state["scheduler_g"])
        self.sched_d.load_state_dict(state["scheduler_d"])
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        saved = (state.get("world_size"), state.get("batch_size"))
        now = (self.dist.world_size, self.config.train.batch_size)
        if saved != now:
            res.notes.append(f"note: the run was saved with {saved[0]} processes x batch "
                             f"{saved[1]}; now {now[0]} x {now[1]}: the batch order differs "
                             "from an uninterrupted run")
        if self.position.batch_in_epoch >= self.sampler.batches_per_epoch:
            self.position.batch_in_epoch = 0
            self.position.epoch += 1

    # -- checkpoints ----------------------------------------------------------------------

    def save_checkpoint(self) -> tuple[Path, Path]:
        """Write ``do_`` then ``g_`` (each atomically) and prune; rank 0 only."""
        pos = self.position
        g_path, do_path = checkpoint_paths(self.run_dir, pos.steps)
        do = {
            "mpd": published_state_dict(self.discriminator.mpd),
            "msd": published_state_dict(self.discriminator.msd),
            "optim_g": self.optim_g.state_dict(),
            "optim_d": self.optim_d.state_dict(),
            "steps": pos.steps,
            "epoch": pos.epoch,
            STATE_KEY: {
                "format": STATE_FORMAT,
                "batch_in_epoch": pos.batch_in_epoch,
                "scheduler_g": self.sched_g.state_dict(),
                "scheduler_d": self.sched_d.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
                "world_size": self.dist.world_size,
                "batch_size": self.config.train.batch_size,
                "seed": self.config.train.seed,
                "precision": self.opt.precision,
            },
        }
        with atomic_path(do_path) as tmp:
            torch.save(do, tmp)
        save_generator(g_path, self.generator, self.config)
        prune_checkpoints(self.run_dir, self.opt.keep_last)
        return g_path, do_path

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
        """Train until ``max_steps`` (forever if ``None``); returns the final position."""
        opt, pos = self.opt, self.position
        if opt.max_steps is not None and pos.steps >= opt.max_steps:
            self.log(f"{self.run_dir}: already at step {pos.steps} (--max-steps {opt.max_steps}); "
                     "nothing to do")
            return pos
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
                        self.sched_g.step()
                        self.sched_d.step()
                        pos.epoch += 1
                        pos.batch_in_epoch = 0
                    done = opt.max_steps is not None and pos.steps >= opt.max_steps
                    if bar is not None:
                        bar.update(1)
                    if pos.steps % opt.log_interval == 0 or done:
                        values = _mean_losses(acc)
                        acc.clear()
                        if not all(math.isfinite(v) for v in values.values()):
                            nonfinite += 1
                            self.log(f"warning: non-finite losses at step {pos.steps}: {values}")
                            if nonfinite >= NONFINITE_LIMIT:
                                raise RuntimeError(
                                    f"training diverged: losses not finite at {nonfinite} log "
                                    f"points in a row (step {pos.steps}); resume from the last "
                                    "checkpoint with --precision 32 or a lower learning rate")
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
                            if self.scaler.is_enabled():
                                writer.add_scalar("train/grad_scale", self.scaler.get_scale(),
                                                  pos.steps)
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
        if self.dist.world_size > 1:
            import torch.distributed as dist

            dist.barrier()
        return pos

    def close(self) -> None:
        if self.dist.world_size > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def _mean_losses(acc: list[StepLosses]) -> dict[str, float]:
    if not acc:
        return {}
    stacked = torch.stack([torch.stack([a.disc, a.gen_adv, a.feature, a.mel]) for a in acc])
    d, adv, fm, mel = stacked.float().mean(0).tolist()
    return {"loss_d": d, "loss_g_adv": adv, "loss_fm": fm, "mel_l1": mel,
            "loss_g_total": adv + fm + 45.0 * mel}


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


# ------------------------------------------------------------------------------ command

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
    p.add_argument("--precision", default="32", choices=list(PRECISIONS),
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


def train(options: TrainOptions) -> Position:
    """Set up and run a training run; returns where it stopped."""
    trainer = Trainer(options)
    try:
        return trainer.train()
    finally:
        trainer.close()


def run(args: argparse.Namespace) -> int:
    """``vocoder train``."""
    pos = train(options_from_args(args))
    if int(os.environ.get("RANK", "0")) == 0:
        report(f"stopped at step {pos.steps} (epoch {pos.epoch})")
    return 0


__all__ = ["Position", "StepLosses", "TrainOptions", "TrainStep", "Trainer", "build_optimizers",
           "config_differences", "list_checkpoints", "load_optimizer", "prune_checkpoints",
           "train"]
