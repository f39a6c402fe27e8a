"""Head motion at the style's amplitude and a talking head's pace: a correction of every x0
prediction, applied by the pipeline the way Imagen's dynamic thresholding is.

Head rotation is the part of the motion that speech barely determines, and the network
predicts it badly: on 4 held-out synthetic speakers the default model's heads moved
0.34 degrees RMS against 1.3 in their references, with 15 times their frame-to-frame
acceleration (jitter, not motion), and a reference with four times the head motion gave
only 1.5 times as much. So each prediction's head channels are

1. low-passed over time (a Gaussian of ``smoothing_frames``), continuing from the
   window's context frames so that windows join without a step; and
2. scaled, channel by channel, to the target spread: the style reference's own (its
   statistics are part of the style vector) or the model's default without a style.
   The scaling is about the window's mean; over its first ``blend_frames`` a window
   blends from the course its context was on into the scaled motion, so windows join
   without a step or a kink.

Because it corrects the prediction, not the result, the sampler and the inpainting
constraints (kept frames) see the corrected motion at every step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from .model import SPREAD_FLOOR
from .stats import HEAD_CHANNELS

# A raw head that hardly moves is not amplified past this: noise would become motion.
MAX_GAIN = 25.0


def head_spread_of_style(style: np.ndarray, motion_dim: int, statistics_dim: int) -> np.ndarray:
    """The head channels' spread (normalized units) of the reference a style vector was
    encoded from: its statistics end the vector (``model.motion_statistics``)."""
    log_spread = np.asarray(style, np.float32)[-statistics_dim:][motion_dim:]
    return np.maximum(np.exp(log_spread[list(HEAD_CHANNELS)]) - SPREAD_FLOOR, 0.0)


def check_settings(settings, head_pose: bool, motion_dim: int, statistics_dim: int):
    """Raises ValueError unless ``settings`` (a checkpoint's ``sampling.head_prior``) is
    {"smoothing_frames": >= 0, "default_spread": one value >= 0 per head channel} on a
    model that has head pose and style statistics."""
    if not head_pose or statistics_dim != 2 * motion_dim:
        raise ValueError("sampling.head_prior needs a model with head pose and style statistics")
    if not isinstance(settings, dict) or set(settings) != {"smoothing_frames", "default_spread"}:
        raise ValueError("sampling.head_prior must have exactly smoothing_frames and default_spread")
    values = [settings["smoothing_frames"], *np.atleast_1d(settings["default_spread"]).tolist()]
    if len(values) != 1 + len(HEAD_CHANNELS) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0 for v in values):
        raise ValueError(f"sampling.head_prior: smoothing_frames and {len(HEAD_CHANNELS)} default_spread values "
                         "must be finite numbers >= 0")


@dataclass
class HeadMotionPrior:
    channels: tuple  # indices of the head rotation in the motion vector
    smoothing_frames: float  # standard deviation of the Gaussian, in frames; 0 = none
    target_spread: Optional[torch.Tensor]  # (V or 1, C) normalized units; None = keep the amplitude
    blend_frames: float = 12.0

    def __call__(self, x0: torch.Tensor, context: Optional[torch.Tensor], n_valid: int,
                 known: Optional[tuple] = None) -> torch.Tensor:
        """x0 (V, L, D) a window's prediction; context (V, P, D) the motion before it, or
        None at a clip's start; n_valid the window's real frames (the rest is padding);
        known: (motion (V, L, D), keep (L,) bool) of an inpainting window. There the kept
        frames' head replaces the prediction's before the low-pass, the new frames ease
        into the kept ones on both sides, and the amplitude is left to the kept frames."""
        channels = list(self.channels)
        head = x0[:, :, channels]
        before = None if context is None else context[:, :, channels].to(head.dtype)
        if known is not None:
            known_motion, keep = known
            known_head = known_motion[:, :, channels].to(head.dtype)
            head = torch.where(keep[None, :, None], known_head, head)
        head = _smooth(head, before, self.smoothing_frames)
        if self.target_spread is not None and known is None:
            head = self._match_spread(head, n_valid)
        head = self._join(head, before)
        if known is not None:
            head = self._join_kept_after(head, known_head, keep)
        out = x0.clone()
        out[:, :, channels] = head
        return out

    def _match_spread(self, head, n_valid: int):
        valid = head[:, :n_valid]
        mean = valid.mean(dim=1, keepdim=True)
        spread = valid.std(dim=1, unbiased=False, keepdim=True)
        gain = (self.target_spread.to(head.dtype).unsqueeze(1) / spread.clamp(min=1e-6)).clamp(max=MAX_GAIN)
        return mean + (head - mean) * gain

    def _join_kept_after(self, head, known_head, keep):
        """The new frames that end where kept frames of the window begin ease into the kept
        frames' course (``known_head``, not their low-passed values: those are what the
        sampler puts back), as ``_join`` does at the start, backwards in time."""
        keep = keep.to(torch.bool)
        ends = torch.nonzero(~keep[:-1] & keep[1:]).flatten()
        if len(ends) == 0:
            return head
        end = int(ends[-1]) + 1  # first kept frame after the last new ones
        if end + 2 > head.shape[1] or not bool(keep[end: end + 2].all()):
            return head
        backwards = head[:, :end].flip(1)
        after = known_head[:, end: end + 2].flip(1)  # as context: the frame next to the new ones last
        return torch.cat([self._join(backwards, after).flip(1), head[:, end:]], dim=1)

    def _join(self, head, before):
        """From the context's own course (its last frame and velocity, carried on) into
        ``head``, with zero slope at both ends (smoothstep): the prediction need not start
        where the context ends, and this way no step or kink shows where windows meet."""
        if before is None or before.shape[1] < 2 or self.blend_frames <= 0:
            return head
        t = torch.arange(1, head.shape[1] + 1, dtype=head.dtype, device=head.device).view(1, -1, 1)
        course = before[:, -1:] + (before[:, -1:] - before[:, -2:-1]) * t
        u = ((t - 1) / self.blend_frames).clamp(max=1.0)
        weight = u * u * (3.0 - 2.0 * u)
        return course + weight * (head - course)


def _smooth(head, before, sigma: float):
    """Zero-phase Gaussian over time of head (V, L, C), continuing ``before`` (V, P, C) on
    the left when given, else holding the first frame; the end holds the last frame."""
    if sigma <= 0:
        return head
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=head.dtype, device=head.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    left = head[:, :1] if before is None else before
    left = torch.cat([left[:, :1].expand(-1, max(0, radius - left.shape[1]), -1), left[:, -radius:]], dim=1)
    right = head[:, -1:].expand(-1, radius, -1)
    padded = torch.cat([left, head, right], dim=1).transpose(1, 2)  # (V, C, L + 2r)
    channels = head.shape[2]
    smoothed = F.conv1d(padded, kernel.view(1, 1, -1).expand(channels, 1, -1).contiguous(), groups=channels)
    return smoothed.transpose(1, 2)
