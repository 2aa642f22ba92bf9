"""Training a HiFi-GAN vocoder: the ``vocoder train`` command and its parts.

- :mod:`~vocoder.train.step`: one training step's maths (:class:`TrainStep`: losses,
  optimiser updates, mixed precision), the optimisers and learning-rate schedulers;
- :mod:`~vocoder.train.state`: what a run keeps on disk (``g_``/``do_`` checkpoints in the
  published layout, :class:`TrainingState`), resuming (published ``do_`` files too), pruning;
- :mod:`~vocoder.train.distributed`: which of torchrun's processes this is, its device, the
  process group (:class:`Distributed`);
- :mod:`~vocoder.train.loop`: :class:`Trainer`, which sets a run up and trains it;
- :mod:`~vocoder.train.command`: the command's options (:class:`TrainOptions`) and its entry
  point, the only place that reads the environment or changes process-wide settings.

From Python::

    from vocoder.train import TrainOptions, train
    train(TrainOptions(config="v3", output_dir=Path("runs/v3"), train_wavs="wavs/",
                       max_steps=1000))
"""

from .command import TrainOptions, add_arguments, options_from_args, run
from .distributed import Distributed
from .loop import Trainer, TrainingDiverged, train
from .state import (Position, Resume, TrainingState, checkpoint_paths, config_differences,
                    list_checkpoints, load_optimizer, plan_resume, prune_checkpoints)
from .step import PRECISIONS, StepLosses, TrainStep, build_optimizers, build_schedulers

__all__ = ["Distributed", "PRECISIONS", "Position", "Resume", "StepLosses", "TrainOptions",
           "TrainStep", "Trainer", "TrainingDiverged", "TrainingState", "add_arguments",
           "build_optimizers", "build_schedulers", "checkpoint_paths", "config_differences",
           "list_checkpoints", "load_optimizer", "options_from_args", "plan_resume",
           "prune_checkpoints", "run", "train"]
