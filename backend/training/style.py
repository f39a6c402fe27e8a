"""Style encoder training: contrastive (NT-Xent) over clips of distinct speakers.

A sample is a 210-frame crop of a clip; its two views are frames 0-99 and 110-209 (non
overlapping, 10 frames apart), the positives of each other. Every batch holds one clip of
each of ``batch_size`` distinct speakers, so no negative is the same person.

With ``cross_clip`` the two views of a speaker come from two different clips of that
speaker (frames 0-99 of one, 110-209 of the other). Views of one clip share whatever is
particular to that recording (a posture, a mood that drifts slowly), and an encoder can
tell speakers apart by that alone; across clips only what the speaker always does is
shared, which is what a style is.

With ``amplitude_twins`` every speaker of a batch also gets a twin: both its views with
the head motion or the jaw motion (half and half; the jaw alone without head pose) scaled
about its mean by 2x to 4x up or down, a speaker of its own. Real speakers differ in many ways at once and an
encoder can tell them apart by the easiest ones (smile, brows, asymmetry) and still be
blind to how much the head moves; a twin differs in that alone.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from .augment import amplitude_factors, scale_about_mean
from .denoiser import motion_vector
from .losses import nt_xent

VIEW = 100  # frames per view
GAP = 10  # frames between the two views
CROP = 2 * VIEW + GAP


def speaker_batches(dataset, batch_size: int, batches_per_epoch: int | None = None, cross_clip: bool = False):
    """``make_batches(epoch, rng)`` for ``EpochBatches``: batches of distinct speakers.

    dataset: a ``MotionWindows`` (its ``records`` name each clip's speaker). An epoch has
    as many batches as one pass over the clips needs, unless ``batches_per_epoch`` says.
    With ``cross_clip`` a batch of N speakers lists 2N clips: one of each speaker, then
    another of each in the same order (the same clip again for a speaker with only one).
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
            if not cross_clip:
                batches.append([int(rng.choice(by_speaker[speakers[k]])) for k in chosen])
                continue
            pairs = [rng.choice(by_speaker[speakers[k]], size=2, replace=len(by_speaker[speakers[k]]) < 2)
                     for k in chosen]
            batches.append([int(a) for a, _ in pairs] + [int(b) for _, b in pairs])
        return batches

    return make_batches


class StyleObjective(nn.Module):
    def __init__(self, encoder: nn.Module, head_pose: bool, temperature: float = 0.1, cross_clip: bool = False,
                 amplitude_twins: bool = False):
        super().__init__()
        self.encoder = encoder
        self.head_pose = head_pose
        self.temperature = temperature
        self.cross_clip = cross_clip
        self.amplitude_twins = amplitude_twins

    def forward(self, exp: torch.Tensor, pose: torch.Tensor, generator: torch.Generator | None = None):
        """exp (N, 210, 50), pose (N, 210, 6) normalized -> NT-Xent loss and top-1 accuracy.

        With ``cross_clip`` the batch is 2N clips in the order of ``speaker_batches``;
        ``generator`` draws the twins' factors."""
        vec = motion_vector(exp, pose, self.head_pose)
        if self.cross_clip:
            n = vec.shape[0] // 2
            first, second = vec[:n], vec[n: 2 * n]
        else:
            n = vec.shape[0]
            first = second = vec
        views = [first[:n, :VIEW], second[:n, VIEW + GAP: CROP]]
        if self.amplitude_twins:
            factor = amplitude_factors(n, generator)
            on_head = torch.rand(n, generator=generator) < 0.5 if self.head_pose else torch.zeros(n, dtype=torch.bool)
            jaw = [53] if self.head_pose else [50]

            def twin(view):
                view = scale_about_mean(view, jaw, torch.where(on_head, 1.0, factor))
                return scale_about_mean(view, slice(50, 53), torch.where(on_head, factor, 1.0)) if self.head_pose else view

            views = [views[0], twin(views[0]), views[1], twin(views[1])]
        z = self.encoder(torch.cat(views))
        z1, z2 = z[: len(z) // 2], z[len(z) // 2:]
        n = len(z1)
        loss = nt_xent(z1, z2, self.temperature)
        with torch.no_grad():
            sim = nn.functional.normalize(z1, dim=1) @ nn.functional.normalize(z2, dim=1).T
            accuracy = (sim.argmax(dim=1) == torch.arange(n, device=sim.device)).float().mean()
        return loss, {"nt_xent": loss.detach(), "top1": accuracy}


def style_step(objective: nn.Module, batch: dict, generator: torch.Generator):
    return objective(batch["exp"], batch["pose"], generator)
