"""The training loop both stages share: Adam with linear warm-up, epochs of batches,
progress on stderr, a log file, resumable state and periodic checkpoints.

A run folder holds ``train.log``, ``state.pt`` (everything needed to resume: weights,
optimizer, warm-up schedule, step, position in the epoch, data RNG) and whatever the
stage's ``on_checkpoint`` writes (our checkpoint format). Random choices of a step come
from a generator re-seeded from (seed, rank, step), so a resumed run draws exactly what an
uninterrupted one would have drawn.
"""
from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..atomic_files import write_atomically
from .distributed import DistInfo, barrier, mean_over_ranks

log = logging.getLogger(__name__)

STATE_NAME = "state.pt"
LOG_NAME = "train.log"


class TrainingStateError(RuntimeError):
    """A state file does not belong to this run (other model, other stage)."""


@dataclass
class LoopConfig:
    steps: int = 1000
    batch_size: int = 16
    lr: float = 1e-4
    warmup: int = 5000  # steps of linear warm-up from 0 to lr
    log_every: int = 50
    checkpoint_every: int = 500
    seed: int = 0
    num_workers: int = 0
    grad_clip: float = 0.0  # 0 = off
    decay: float = 0.0  # the last fraction of the steps over which the rate falls linearly to 10 %


class EpochBatches:
    """Batches of dataset indices for one process, reproducible from (seed, epoch, rank).

    ``make_batches(epoch, rng) -> list[list[int]]`` decides what a batch is (shuffled
    shards of a DistributedSampler, or one clip of each of several distinct speakers).
    """

    def __init__(self, dataset, make_batches: Callable, info: DistInfo, seed: int, num_workers: int = 0):
        self.dataset = dataset
        self.make_batches = make_batches
        self.info = info
        self.seed = seed
        self.num_workers = num_workers

    def loader(self, epoch: int, skip: int = 0):
        """DataLoader over epoch ``epoch``'s batches, the first ``skip`` left out."""
        batches = self.make_batches(epoch, np.random.default_rng([self.seed, epoch, self.info.rank]))
        generator = torch.Generator().manual_seed(hash((self.seed, epoch, self.info.rank, skip)) % 2**63)
        return torch.utils.data.DataLoader(
            self.dataset, batch_sampler=batches[skip:], num_workers=self.num_workers, generator=generator,
            pin_memory=self.info.device.type == "cuda",
        ), len(batches)

    def reseed(self, epoch: int):
        if hasattr(self.dataset, "rng"):
            self.dataset.rng = np.random.default_rng([self.seed, epoch, self.info.rank, 1])


def lr_factor(cfg: LoopConfig) -> Callable[[int], float]:
    """Linear warm-up from 0, constant, then (with ``decay``) linear down to 10 % at the end."""
    decay_start = cfg.steps * (1.0 - cfg.decay)

    def factor(step: int) -> float:
        value = min(1.0, (step + 1) / cfg.warmup) if cfg.warmup > 0 else 1.0
        if cfg.decay > 0 and step > decay_start:
            value *= 1.0 - 0.9 * min(1.0, (step - decay_start) / (cfg.steps - decay_start))
        return value

    return factor


def setup_logging(folder: Path, info: DistInfo) -> logging.Handler | None:
    """Rank 0 copies the backend's log records to ``folder/train.log``."""
    if not info.is_main:
        logging.getLogger("backend").setLevel(logging.WARNING)
        return None
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(folder / LOG_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("backend").addHandler(handler)
    logging.getLogger("backend").setLevel(logging.INFO)
    return handler


def step_generator(seed: int, rank: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + rank * 7_919 + step) % 2**63)


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def train(
    name: str,
    objective: torch.nn.Module,
    trainable: torch.nn.Module,
    step_fn: Callable,
    batches: EpochBatches,
    cfg: LoopConfig,
    info: DistInfo,
    folder: Path,
    on_checkpoint: Callable[[int], None] | None = None,
    run_config: dict | None = None,
) -> dict:
    """Train until ``cfg.steps``, resuming from ``folder/state.pt`` when it exists.

    ``objective`` is what runs forward (possibly DDP-wrapped); ``trainable`` is the
    unwrapped module whose parameters with requires_grad are optimized and whose state is
    saved. ``step_fn(objective, batch, generator) -> (loss, {term: tensor})``.
    Returns the last logged averages.
    """
    folder = Path(folder)
    params = [p for p in trainable.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg))
    step, epoch, done_in_epoch = 0, 0, 0
    state_path = folder / STATE_NAME
    if state_path.exists():
        state = torch.load(state_path, map_location=info.device, weights_only=True)
        if state["name"] != name:
            raise TrainingStateError(f"{state_path} is a {state['name']!r} run, not {name!r}; use another --out folder")
        trainable.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, epoch, done_in_epoch = state["step"], state["epoch"], state["done_in_epoch"]
        batches.reseed(epoch)
        if state.get("data_rng") is not None and info.world_size == 1 and cfg.num_workers == 0:
            batches.dataset.rng.bit_generator.state = state["data_rng"]
        log.info("%s: resumed from %s at step %d", name, state_path, step)
    else:
        batches.reseed(epoch)

    def save_state():
        if not info.is_main:
            return
        rng = getattr(batches.dataset, "rng", None)
        state = {
            "name": name, "step": step, "epoch": epoch, "done_in_epoch": done_in_epoch,
            "model": trainable.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "config": run_config or {}, "loop": asdict(cfg),
            "data_rng": rng.bit_generator.state if rng is not None else None, "losses": last,
        }
        write_atomically(state_path, lambda handle: torch.save(state, handle))

    progress = None
    if info.is_main:
        from tqdm import tqdm

        progress = tqdm(total=cfg.steps, initial=step, desc=name, file=sys.stderr, dynamic_ncols=True)
    sums, count, last = {}, 0, {}
    started, first_step = time.monotonic(), step
    objective.train()
    while step < cfg.steps:
        loader, n_batches = batches.loader(epoch, done_in_epoch)
        if n_batches == 0:
            raise ValueError(f"{name}: an epoch has no batch of {cfg.batch_size}; lower --batch-size or add clips")
        for batch in loader:
            if step >= cfg.steps:
                break
            loss, terms = step_fn(objective, _to_device(batch, info.device), step_generator(cfg.seed, info.rank, step))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{name}: the loss became {loss.item()} at step {step}; lower --lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            step += 1
            done_in_epoch += 1
            for key, value in {"loss": loss, **terms}.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach() if torch.is_tensor(value) else value)
            count += 1
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{loss.item():.4g}")
            if step % cfg.log_every == 0 or step == cfg.steps:
                last = mean_over_ranks({k: v / count for k, v in sums.items()}, info)
                sums, count = {}, 0
                rate = (time.monotonic() - started) / max(1, step - first_step)
                log.info("%s step %d/%d lr %.3g %s (%.2f s/step)", name, step, cfg.steps,
                         scheduler.get_last_lr()[0], " ".join(f"{k} {v:.4g}" for k, v in last.items()), rate)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                save_state()
                if on_checkpoint is not None and info.is_main:
                    on_checkpoint(step)
                barrier(info)
        else:
            epoch += 1
            done_in_epoch = 0
            batches.reseed(epoch)
    if progress is not None:
        progress.close()
    if not math.isfinite(sum(last.values() or [0.0])):
        raise FloatingPointError(f"{name}: non-finite losses at the end: {last}")
    return last
