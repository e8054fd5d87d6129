"""Data-parallel training under torchrun: process group set-up and small collectives."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def join_world() -> World:
    """Join the process group torchrun describes in the environment.

    NCCL when every process has a GPU of its own, gloo otherwise (on CPU, or when
    processes share a GPU, which NCCL refuses). Without torchrun (no WORLD_SIZE,
    or 1) this is a single process and nothing is set up.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        on_this_machine = int(os.environ.get("LOCAL_WORLD_SIZE", size))
        own_gpus = torch.cuda.is_available() and on_this_machine <= torch.cuda.device_count()
        dist.init_process_group(backend="nccl" if own_gpus else "gloo")
    return World(dist.get_rank(), dist.get_world_size())


def training_device(world: World) -> torch.device:
    """This process's GPU when there is one, else the CPU."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    index = int(os.environ.get("LOCAL_RANK", world.rank)) % torch.cuda.device_count()
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def broadcast_float(value: float, world: World, device: torch.device) -> float:
    """Rank 0's `value`, on every rank."""
    if not world.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(tensor, src=0)
    return float(tensor.item())


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()
