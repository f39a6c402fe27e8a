"""One CPU, one GPU or several processes under ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node=K -m backend train-denoiser ...`` sets RANK, WORLD_SIZE and
LOCAL_RANK; without them the run is a single process. GPUs use NCCL, CPUs gloo. Only
rank 0 logs, shows progress and writes files.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..device import choose_device

log = logging.getLogger(__name__)


@dataclass
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> DistInfo:
    """Join the process group if ``torchrun`` started us, and pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = choose_device(device)
    if chosen.type == "cuda" and world_size > 1:
        chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if chosen.type == "cuda" else "gloo")
        log.info("process %d of %d on %s", rank, world_size, chosen)
    return DistInfo(rank, world_size, local_rank, chosen)


def cleanup(info: DistInfo):
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    """DistributedDataParallel around ``module`` when several processes train it."""
    if not info.distributed:
        return module
    ids = [info.device.index] if info.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)


def mean_over_ranks(values: dict, info: DistInfo) -> dict:
    """Average a dict of floats over all processes (for logging)."""
    if not info.distributed or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=info.device)
    dist.all_reduce(tensor)
    return {k: float(v) / info.world_size for k, v in zip(keys, tensor.tolist())}


def barrier(info: DistInfo):
    if info.distributed:
        dist.barrier()
