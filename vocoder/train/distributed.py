"""Training in several processes: which process this is, its device, and the process group.

``torchrun`` starts one process per device and describes each in environment variables
(``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``). Only the entry point reads them
(:meth:`Distributed.from_environment`); the trainer is handed a :class:`Distributed`, so a
library caller decides for itself. Rank 0 is the main process: it writes checkpoints and logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch

from ..errors import InputError


@dataclass(frozen=True)
class Distributed:
    """This process's place among ``world_size`` training processes (one process: the
    default)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """True for rank 0, the process that writes checkpoints and logs."""
        return self.rank == 0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "Distributed":
        """The process described by torchrun's variables in ``environ`` (one process when
        ``WORLD_SIZE`` is absent or 1).

        Raises:
            InputError: a variable that is not a number, or a rank outside the world.
        """
        try:
            world = int(environ.get("WORLD_SIZE", "1"))
            if world <= 1:
                return cls()
            rank, local = int(environ["RANK"]), int(environ.get("LOCAL_RANK", "0"))
        except (KeyError, ValueError):
            raise InputError("WORLD_SIZE is set, but RANK / LOCAL_RANK are missing or not "
                             "numbers; start several processes with torchrun") from None
        if not 0 <= rank < world:
            raise InputError(f"RANK {rank} is outside 0..{world - 1} (WORLD_SIZE {world})")
        return cls(rank, world, local)

    def device(self, device: str = "auto") -> torch.device:
        """This process's device: ``auto`` is ``cuda:<local_rank>`` with several processes on
        a GPU machine, else as :func:`vocoder.inference.pick_device`; a bare ``cuda`` gets the
        local rank as its index."""
        from ..inference import pick_device

        if self.world_size <= 1:
            return pick_device(device)
        if device == "auto":
            return torch.device(f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu")
        picked = pick_device(device)
        if picked.type == "cuda" and picked.index is None:
            picked = torch.device(f"cuda:{self.local_rank}")
        return picked

    def join(self, device: torch.device) -> None:
        """Join the process group (NCCL on GPUs, gloo on CPU); nothing with one process."""
        if self.world_size <= 1:
            return
        import torch.distributed as dist

        if device.type == "cuda":
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    def leave(self) -> None:
        """Leave the process group (if this process joined one)."""
        if self.world_size <= 1:
            return
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` (any picklable object), in every process."""
        if self.world_size <= 1:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Wait until every process gets here."""
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()


__all__ = ["Distributed"]
