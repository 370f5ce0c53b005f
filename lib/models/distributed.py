"""Data-parallel training on several processes (``torchrun --nproc_per_node N main.py train ...``): the few rules the
trainers share, with ``torch.distributed`` doing the work.

torchrun starts N copies of the command with ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and
``MASTER_PORT`` set; the process group is initialised from those (``init_method="env://"``), with NCCL on CUDA and
gloo on the CPU. Rank 0 alone writes what others read (the candidate checkpoint, the served weights and card);
the others wait for it at a barrier, so no rank ends before the run is published.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional

import torch
import torch.distributed as dist

from lib.core.errors import BadParameterError

TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
# A launch is told by the rank variables: MASTER_ADDR and MASTER_PORT alone are not one (MONAI Label's server sets
# them for every training subprocess it starts, multi-GPU or not: monailabel/utils/async_tasks/utils.py).
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE")


@dataclass(frozen=True)
class Launch:
    """Where this process sits in a torchrun launch."""

    rank: int
    local_rank: int
    world_size: int


def torchrun_launch(environ: Mapping[str, str] = os.environ) -> Optional[Launch]:
    """This process's place under torchrun (more than one process), or None when it runs alone. A rank variable
    without the others is a broken launch, refused naming the missing ones."""
    present = [name for name in TORCHRUN_VARIABLES if environ.get(name)]
    if not any(name in present for name in RANK_VARIABLES):
        return None
    missing = [name for name in TORCHRUN_VARIABLES if name not in present]
    if missing:
        raise BadParameterError(
            f"distributed training needs {', '.join(TORCHRUN_VARIABLES)} (set by torchrun); "
            f"{', '.join(missing)} missing"
        )
    try:
        launch = Launch(int(environ["RANK"]), int(environ["LOCAL_RANK"]), int(environ["WORLD_SIZE"]))
    except ValueError:
        raise BadParameterError(
            "RANK, LOCAL_RANK and WORLD_SIZE must be whole numbers: "
            + ", ".join(f"{k}={environ[k]!r}" for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
        ) from None
    if not 0 <= launch.rank < launch.world_size:
        raise BadParameterError(f"RANK {launch.rank} is not below WORLD_SIZE {launch.world_size}")
    return launch if launch.world_size > 1 else None


def backend_for(device: str | torch.device) -> str:
    """NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def device_for(launch: Optional[Launch], device: str) -> str:
    """The device of this process: its own GPU (``LOCAL_RANK``) when training on CUDA under torchrun."""
    if launch is not None and torch.device(device).type == "cuda":
        return f"cuda:{launch.local_rank}"
    return device


def init_from_env(launch: Launch, device: str) -> bool:
    """Join the process group torchrun describes; False when this process is in one already (then it is not
    ours to destroy)."""
    if dist.is_initialized():
        return False
    if torch.device(device).type == "cuda":
        torch.cuda.set_device(torch.device(device_for(launch, device)))
    dist.init_process_group(backend=backend_for(device), init_method="env://")
    return True


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_rank_zero() -> bool:
    return rank() == 0


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast_buffers(module: torch.nn.Module) -> None:
    """Rank 0's buffers (batch-norm statistics) onto every rank. DDP keeps the parameters equal by averaging the
    gradients and broadcasts buffers before each forward pass, but the last forward pass leaves each rank with the
    statistics of its own batch; after this every rank holds exactly the weights rank 0 publishes."""
    if active():
        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=0)
