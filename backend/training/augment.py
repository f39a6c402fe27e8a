"""Random choices of a training step: condition dropout, truncation, amplitude scaling.

Both draw from a ``torch.Generator`` that the trainer saves with its state, so a resumed
run makes the same choices as an uninterrupted one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from ..expression_spaces import ARKIT_CHANNELS
from ..model.stats import EPS

# Classifier-free guidance training (Ho & Salimans 2022) as the reference draws it:
# r ~ U(0, 1); r > 0.55 drops the style, r > 0.9 drops the audio too, so 55 % of the
# samples see both conditions, 35 % audio only and 10 % neither.
DROP_STYLE_ABOVE = 0.55
DROP_AUDIO_ABOVE = 0.9
# Probability that window 0 / window 1 is cut short (the end of a clip seen mid-window).
TRUNCATION_PROBS = (0.3, 0.4)


def condition_dropout(n: int, generator: torch.Generator,
                      style_above: float = DROP_STYLE_ABOVE, audio_above: float = DROP_AUDIO_ABOVE):
    """-> (drop_style, drop_audio), each (n,) bool; dropping the audio always drops the style."""
    r = torch.rand(n, generator=generator)
    return r > style_above, r > audio_above


def truncation_mask(n: int, n_windows: int, length: int, generator: torch.Generator,
                    probs=TRUNCATION_PROBS) -> torch.Tensor:
    """(n, n_windows, length) float: 1 for real frames, 0 after a random cut.

    Window w is cut with probability ``probs[w]`` (the last entry for later windows) at a
    frame drawn uniformly from 1..length-1. A window after a cut one is all zeros: the
    speech ended, so there is nothing to continue.
    """
    mask = torch.ones(n, n_windows, length)
    frames = torch.arange(length)
    for w in range(n_windows):
        p = probs[min(w, len(probs) - 1)]
        cut = torch.rand(n, generator=generator) < p
        at = torch.randint(1, length, (n,), generator=generator)
        mask[:, w] *= torch.where(cut[:, None], frames[None] < at[:, None], True).float()
        if w + 1 < n_windows:
            mask[:, w + 1:] *= (~cut).float()[:, None, None]
    return mask


AMPLITUDE_RANGE = (2.0, 4.0)  # factors of amplitude twins: up or down by 2x to 4x


def amplitude_factors(n: int, generator: torch.Generator, probability: float = 1.0,
                      low: float = AMPLITUDE_RANGE[0], high: float = AMPLITUDE_RANGE[1]) -> torch.Tensor:
    """(n,) factors: with ``probability`` log-uniform in [low, high] or its inverse (half
    and half), else 1."""
    log = torch.empty(n).uniform_(float(torch.log(torch.tensor(low))), float(torch.log(torch.tensor(high))),
                                  generator=generator)
    sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    chosen = torch.rand(n, generator=generator) < probability
    return torch.where(chosen, torch.exp(sign * log), torch.ones(n))


def scale_about_mean(vec: torch.Tensor, channels, factor: torch.Tensor) -> torch.Tensor:
    """``vec`` (N, T, D) with ``channels`` scaled about their mean over T by ``factor`` (N,).

    On normalized motion this scales the raw motion about its mean by the same factor."""
    part = vec[..., channels]
    mean = part.mean(dim=1, keepdim=True)
    out = vec.clone()
    out[..., channels] = mean + (part - mean) * factor.view(-1, 1, 1).to(vec)
    return out


# ARKit channels a style edit may offset, in groups moved together (left and right alike).
# The lip channels that shape a closure (mouthClose, press, roll, funnel, pucker, ...) are
# left alone so that an edited target still closes its lips where the speech does.
OFFSET_GROUPS = (
    ("mouthSmileLeft", "mouthSmileRight"), ("mouthFrownLeft", "mouthFrownRight"),
    ("mouthDimpleLeft", "mouthDimpleRight"), ("mouthStretchLeft", "mouthStretchRight"),
    ("browInnerUp",), ("browOuterUpLeft", "browOuterUpRight"), ("browDownLeft", "browDownRight"),
    ("cheekSquintLeft", "cheekSquintRight"), ("cheekPuff",), ("eyeSquintLeft", "eyeSquintRight"),
    ("eyeWideLeft", "eyeWideRight"), ("noseSneerLeft", "noseSneerRight"),
)


@dataclass(frozen=True)
class StyleEditRates:
    """How often and how far a sample's motion is edited (see ``StyleEdits``)."""

    head: float = 0.4  # probability of scaling the head motion about its mean ...
    head_range: float = 5.0  # ... by a log-uniform factor in [1 / range, range]
    # At 0.25 and down to 0.35 the fine-tuned model followed a reference's jaw x0.4 to only
    # 0.72x: the edit lay at the range's end, and below the smallest speaker's jaw.
    jaw: float = 0.4  # probability of scaling the jaw and mouthClose about closed ...
    jaw_range: tuple = (0.25, 1.6)  # ... by a log-uniform factor in this range
    offsets: float = 0.4  # probability of offsetting some ARKit groups ...
    group: float = 0.35  # ... each group with this probability ...
    # ... by a uniform amount in units of the channel's normalization std (a raw range
    # would be 185 std for a nose sneer and 5 for the inner brows); ARKit values stay in [0, 1].
    # 10 std of a smile is +0.48.
    offset_range: tuple = (-2.0, 10.0)


class StyleEdits(nn.Module):
    """Edits applied alike to a training sample's target motion and its style reference.

    In the corpus a speaker's head amplitude, resting smile or jaw range vary only as much
    as the synthetic speakers do, and the denoiser can learn them from the audio or the
    previous frames as well as from the style. Editing target and reference together makes
    the reference the only place where the edit can be read, so the denoiser learns to
    follow it, beyond the corpus's range. Works on normalized model vectors (N, T, D); the
    offsets and the clipping are in raw ARKit values.
    """

    def __init__(self, stats: dict, head_pose: bool, arkit: bool, rates: StyleEditRates | None = None):
        super().__init__()
        self.rates = rates or StyleEditRates()
        self.head_pose, self.arkit = head_pose, arkit
        for key in ("exp_mean", "exp_std", "pose_mean", "pose_std"):
            self.register_buffer(key, torch.as_tensor(stats[key], dtype=torch.float32))
        groups = torch.full((len(ARKIT_CHANNELS),), -1, dtype=torch.long)
        for g, names in enumerate(OFFSET_GROUPS):
            groups[[ARKIT_CHANNELS.index(name) for name in names]] = g
        self.register_buffer("groups", groups)
        self.mouth_close = ARKIT_CHANNELS.index("mouthClose")
        self.jaw = 53 if head_pose else 50

    def draw(self, n: int, generator: torch.Generator) -> dict:
        """The edits of n samples: ``head`` and ``jaw`` factors (n,), ``offset`` (n, 50) in
        normalized units."""
        r = self.rates

        def log_uniform(low: float, high: float):
            u = torch.rand(n, generator=generator)
            return torch.exp(math.log(low) + u * (math.log(high) - math.log(low)))

        def chosen(p: float):
            return torch.rand(n, generator=generator) < p

        head = torch.where(chosen(r.head), log_uniform(1.0 / r.head_range, r.head_range), torch.ones(n))
        jaw = torch.where(chosen(r.jaw), log_uniform(*r.jaw_range), torch.ones(n))
        n_groups = len(OFFSET_GROUPS)
        amount = torch.empty(n, n_groups).uniform_(*r.offset_range, generator=generator)
        on = (torch.rand(n, n_groups, generator=generator) < r.group) & chosen(r.offsets)[:, None]
        per_group = torch.where(on, amount, torch.zeros(()))
        offset = torch.cat([per_group, torch.zeros(n, 1)], dim=1)[:, self.groups.cpu()]  # -1 -> the zero column
        if not self.arkit:  # FLAME coefficients have no named channels to offset
            offset.zero_()
        return {"head": head, "jaw": jaw, "offset": offset}

    def forward(self, vec: torch.Tensor, edits: dict) -> torch.Tensor:
        """vec (N, T, D) normalized -> the edited copy; ``edits`` from ``draw`` (N rows)."""
        out = vec.clone()
        if self.head_pose:
            out = scale_about_mean(out, slice(50, 53), edits["head"])
        jaw = edits["jaw"].view(-1, 1).to(vec)
        # Scaled about closed (raw 0), not about the mean: a closure stays a closure.
        jaw_std = self.pose_std[3] + EPS
        raw_jaw = out[..., self.jaw] * jaw_std + self.pose_mean[3]
        out[..., self.jaw] = (raw_jaw * jaw - self.pose_mean[3]) / jaw_std
        if self.arkit:
            exp_std = self.exp_std + EPS
            exp = out[..., :50] * exp_std + self.exp_mean
            exp[..., self.mouth_close] = exp[..., self.mouth_close] * jaw
            exp = (exp + edits["offset"][:, None, :].to(vec) * exp_std).clamp(0.0, 1.0)
            out[..., :50] = (exp - self.exp_mean) / exp_std
        return out
