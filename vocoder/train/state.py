"""A training run's state on disk: the ``g_`` / ``do_`` checkpoint pairs, resuming, pruning.

A run directory holds ``g_XXXXXXXX`` (``{"generator": ...}``, published names) and
``do_XXXXXXXX`` (``mpd``, ``msd``, ``optim_g``, ``optim_d``, ``steps``, ``epoch`` in the
published layout, plus a ``hifisynth`` entry with the schedulers, the grad scaler, the position
in the epoch's batch order and the batch/world size), written atomically, ``do_`` first, and
``config.json``. ``XXXXXXXX`` is the number of optimizer steps completed.

Resuming restores everything, so the continuation is the one an uninterrupted run would have
computed. A published ``do_`` file (no ``hifisynth`` entry) counts steps from 0, so resuming
one continues at its ``steps + 1`` as the published trainer does, at the start of its saved
epoch, with the saved learning rate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from ..atomic import remove_stale_temps, save_torch
from ..checkpoint import CheckpointError, load_generator, read_checkpoint, save_generator
from ..config import ConfigError, HiFiGANConfig
from ..discriminators import HiFiGANDiscriminator, load_discriminator_state, published_state_dict
from ..errors import InputError
from ..generator import HiFiGANGenerator
from .step import Precision, build_optimizers, build_schedulers

CHECKPOINT_RE = re.compile(r"^(g|do)_(\d{8,})$")
STATE_KEY = "hifisynth"
STATE_FORMAT = 1
# Keys of config.json that do not change the numbers a run computes.
_NEUTRAL_KEYS = {"num_workers", "num_gpus", "dist_config", "num_freq"}


# ------------------------------------------------------------------------ the run directory

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
    """``(g_XXXXXXXX, do_XXXXXXXX)`` of ``steps`` in ``run_dir``."""
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


def remove_stale_temp_files(run_dir: Path) -> None:
    """Delete the temp files a kill during a write left behind: of checkpoints and of the
    run's ``config.json``."""
    remove_stale_temps(run_dir, lambda name: name == "config.json"
                       or CHECKPOINT_RE.match(name) is not None)


def config_differences(run: HiFiGANConfig, given: HiFiGANConfig) -> list[str]:
    """Settings that change a run's numbers and differ between two configs."""
    a, b = run.to_dict(), given.to_dict()
    keys = [k for k in dict.fromkeys([*a, *b]) if k not in _NEUTRAL_KEYS]
    return [f"'{k}': run has {a.get(k)!r}, given {b.get(k)!r}" for k in keys if a.get(k) != b.get(k)]


# ------------------------------------------------------------------------------- resuming

@dataclass
class Position:
    """Where training stands: completed steps, epoch, batches of that epoch done."""

    steps: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0


@dataclass
class Resume:
    """What a run starts from: nothing, its own latest checkpoint pair, or (``init_only``)
    the weights of another run's checkpoint. ``notes`` are lines for the log."""

    g_path: Path | None = None
    do: dict[str, Any] | None = None
    do_path: Path | None = None
    published: bool = False
    init_only: bool = False
    notes: list[str] = field(default_factory=list)


def plan_resume(run_dir: Path, latest: int | None, config: HiFiGANConfig, config_source: str,
                init_from: str | None = None) -> Resume:
    """Decide what a run starts from.

    Args:
        run_dir: the run directory.
        latest: its newest complete checkpoint pair (:func:`list_checkpoints`), or ``None``.
        config: the config the run is given; it must not contradict the run's ``config.json``.
        config_source: where ``config`` came from (for messages).
        init_from: a generator checkpoint to start a new run from (ignored when resuming);
            a ``do_`` file beside a ``g_XXXXXXXX`` gives the discriminators too.

    Raises:
        ConfigError: the config changes settings of the run being resumed.
        CheckpointError: an unreadable checkpoint.
    """
    if latest is not None:
        g_path, do_path = checkpoint_paths(run_dir, latest)
        run_cfg_path = run_dir / "config.json"
        if run_cfg_path.is_file():
            diffs = config_differences(HiFiGANConfig.load(run_cfg_path), config)
            if diffs:
                raise ConfigError(
                    f"{config_source} contradicts the run in {run_dir} (resuming {g_path.name}): "
                    + "; ".join(diffs) + ". Use the run's config.json, or start a new run "
                    "initialised from its checkpoint to change them", key="init_from")
        do = read_checkpoint(do_path)
        res = Resume(g_path, do, do_path, published=STATE_KEY not in do)
        res.notes.append(f"resuming {run_dir} from {g_path.name} / {do_path.name}"
                         + (" (published layout)" if res.published else ""))
        if init_from:
            res.notes.append(f"note: {run_dir} already holds checkpoints, so the initial "
                             f"checkpoint {init_from} is ignored")
        return res
    if init_from:
        g_path = Path(init_from)
        res = Resume(g_path, init_only=True)
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
    return Resume()


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


# ------------------------------------------------------------------------ the training state

@dataclass
class TrainingState:
    """Everything a checkpoint pair holds: the models, their optimisers and learning-rate
    schedulers, the gradient scaler, and the position in training."""

    generator: HiFiGANGenerator
    discriminator: HiFiGANDiscriminator
    optim_g: torch.optim.Optimizer
    optim_d: torch.optim.Optimizer
    sched_g: torch.optim.lr_scheduler.LRScheduler
    sched_d: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    position: Position = field(default_factory=Position)

    @classmethod
    def start(cls, config: HiFiGANConfig, resume: Resume, device: torch.device,
              precision: Precision, world_size: int = 1, batches_per_epoch: int = 1
              ) -> "TrainingState":
        """Build the models from the config's seed (so every process starts equal), load
        ``resume``'s weights, move them to ``device``, build the optimisers and restore their
        state. Notes for the log are added to ``resume.notes``.

        Raises:
            CheckpointError: a checkpoint that does not fit the config.
        """
        torch.manual_seed(config.train.seed)
        generator = HiFiGANGenerator(config.generator, weight_norm=True)
        discriminator = HiFiGANDiscriminator.from_config(config)
        _load_weights(resume, generator, discriminator, config)
        generator.to(device).train()
        discriminator.to(device).train()
        optim_g, optim_d = build_optimizers(generator, discriminator, config)
        sched_g, sched_d = build_schedulers(optim_g, optim_d, config)
        scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        state = cls(generator, discriminator, optim_g, optim_d, sched_g, sched_d, scaler)
        if resume.do is not None and not resume.init_only:
            state._restore(resume, config, world_size, batches_per_epoch)
        return state

    def _restore(self, res: Resume, config: HiFiGANConfig, world_size: int,
                 batches_per_epoch: int) -> None:
        do, src = res.do, res.do_path
        assert do is not None
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
        now = (world_size, config.train.batch_size)
        if saved != now:
            res.notes.append(f"note: the run was saved with {saved[0]} processes x batch "
                             f"{saved[1]}; now {now[0]} x {now[1]}: the batch order differs "
                             "from an uninterrupted run")
        if self.position.batch_in_epoch >= batches_per_epoch:
            self.position.batch_in_epoch = 0
            self.position.epoch += 1

    def save(self, run_dir: Path, config: HiFiGANConfig, precision: Precision,
             world_size: int = 1, keep_last: int = 0) -> tuple[Path, Path]:
        """Write ``do_`` then ``g_`` (each atomically, ``config.json`` beside them), then keep
        the newest ``keep_last`` pairs; returns the two paths."""
        pos = self.position
        g_path, do_path = checkpoint_paths(run_dir, pos.steps)
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
                "world_size": world_size,
                "batch_size": config.train.batch_size,
                "seed": config.train.seed,
                "precision": precision,
            },
        }
        save_torch(do_path, do)
        save_generator(g_path, self.generator, config)
        prune_checkpoints(run_dir, keep_last)
        return g_path, do_path


def _load_weights(res: Resume, generator: HiFiGANGenerator,
                  discriminator: HiFiGANDiscriminator, config: HiFiGANConfig) -> None:
    if res.g_path is not None:
        loaded, _ = load_generator(res.g_path, config, weight_norm=True)
        generator.load_state_dict(loaded.state_dict())
    if res.do is not None:
        for name in ("mpd", "msd"):
            if name not in res.do:
                raise CheckpointError(f"{res.do_path}: no '{name}' entry; not a HiFi-GAN "
                                      "do_ checkpoint")
            try:
                load_discriminator_state(getattr(discriminator, name), res.do[name],
                                         f"{res.do_path} '{name}'")
            except InputError as exc:
                raise CheckpointError(str(exc)) from None


__all__ = ["CHECKPOINT_RE", "Position", "Resume", "STATE_KEY", "TrainingState",
           "checkpoint_paths", "config_differences", "list_checkpoints", "load_optimizer",
           "plan_resume", "prune_checkpoints", "remove_stale_temp_files"]
