"""Style encoder training: contrastive (NT-Xent) over clips of distinct speakers.

A sample is a 210-frame crop of a clip; its two views are frames 0-99 and 110-209 (non
overlapping, 10 frames apart), the positives of each other. Every batch holds one clip of
each of ``batch_size`` distinct speakers, so no negative is the same person.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from .denoiser import motion_vector
from .losses import nt_xent

VIEW = 100  # frames per view
GAP = 10  # frames between the two views
CROP = 2 * VIEW + GAP


def speaker_batches(dataset, batch_size: int, batches_per_epoch: int | None = None):
    """``make_batches(epoch, rng)`` for ``EpochBatches``: batches of distinct speakers.

    dataset: a ``MotionWindows`` (its ``records`` name each clip's speaker). An epoch has
    as many batches as one pass over the clips needs, unless ``batches_per_epoch`` says.
    """
    by_speaker: dict[str, list[int]] = {}
    for index, record in enumerate(dataset.records):
        by_speaker.setdefault(record.speaker, []).append(index)
    speakers = sorted(by_speaker)
    size = min(batch_size, len(speakers))
    if size < 2:
        raise ValueError(f"contrastive training needs clips of at least 2 speakers, found {len(speakers)}")
    n_batches = batches_per_epoch or max(1, len(dataset) // size)

    def make_batches(epoch: int, rng: np.random.Generator) -> list:
        batches = []
        for _ in range(n_batches):
            chosen = rng.choice(len(speakers), size=size, replace=False)
            batches.append([int(rng.choice(by_speaker[speakers[k]])) for k in chosen])
        return batches

    return make_batches


class StyleObjective(nn.Module):
    def __init__(self, encoder: nn.Module, head_pose: bool, temperature: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.head_pose = head_pose
        self.temperature = temperature

    def forward(self, exp: torch.Tensor, pose: torch.Tensor):
        """exp (N, 210, 50), pose (N, 210, 6) normalized -> NT-Xent loss and top-1 accuracy."""
        vec = motion_vector(exp, pose, self.head_pose)
        n = vec.shape[0]
        z = self.encoder(torch.cat([vec[:, :VIEW], vec[:, VIEW + GAP: CROP]]))
        z1, z2 = z[:n], z[n:]
        loss = nt_xent(z1, z2, self.temperature)
        with torch.no_grad():
            sim = nn.functional.normalize(z1, dim=1) @ nn.functional.normalize(z2, dim=1).T
            accuracy = (sim.argmax(dim=1) == torch.arange(n, device=sim.device)).float().mean()
        return loss, {"nt_xent": loss.detach(), "top1": accuracy}


def style_step(objective: nn.Module, batch: dict, generator: torch.Generator):
    return objective(batch["exp"], batch["pose"])
