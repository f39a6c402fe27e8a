"""The generation loop: windows, guidance, sampler steps, progress and cancel.

Long clips are generated in windows of L = 100 frames with stride L and no overlap.
Window k is conditioned on the last P = 10 generated frames and the last P audio features
of window k - 1 (the first window uses the learned start features); the last window is
padded (indicator 0) and the padding is cut. The same initial noise is used for every
window, as in the reference.

Inpainting (``KnownMotion``: regenerate a range of a take, or keep some of its frames):
the known frames constrain every denoising step as in RePaint (Lugmayr et al. 2022):
after each step their part of x_t is replaced by the known motion noised to the step's
level, q(x_t | x_0) (Ho et al. 2020, eq. 4), so the network sees the kept motion on both
sides of the new frames at every noise level. Only the windows around the new frames are
sampled (``window_starts``), from the first new frame: the motion before it enters as the
previous-motion context, the way windows are joined anyway.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from . import guidance as cfg_guidance
from .errors import Cancelled
from .model import DiffPoseTalk

# Known frames an inpainting window holds on either side of the new ones, where the clip
# has them: the frames after a range constrain its end only from inside the same window.
INPAINT_MARGIN = 25


@dataclass
class KnownMotion:
    """Frames to keep while the others are generated: ``motion`` (T, D) normalized model
    vectors (any values where ``mask`` is False), ``mask`` (T,) bool, True = keep."""

    motion: torch.Tensor
    mask: torch.Tensor


def n_windows_for(n_frames: int, window: int) -> int:
    return max(1, math.ceil(n_frames / window))


def window_starts(n_frames: int, window: int, context: int, new_frames=None, margin: int = INPAINT_MARGIN) -> list:
    """First frame of each window to sample.

    Without ``new_frames``: 0, L, 2L... over the whole clip (the reference's layout). With
    ``new_frames`` ((n_frames,) bool, True = to generate): windows of stride L from the
    first new frame, whose context is then the known motion before it (the way the model
    joins windows, as it was trained), or from frame 0 when fewer than ``context`` frames
    precede it; up to ``margin`` known frames past the last new one, which constrain its
    end from inside the window. So that they share a window with it, the last window ends
    there and overlaps the one before (keeping the first half of the overlap and making the
    rest again, see ``sample_motion``); a single window may run past the clip into padding.
    Windows without a new frame are left out.
    """
    if new_frames is None:
        return [w * window for w in range(n_windows_for(n_frames, window))]
    new_frames = torch.as_tensor(new_frames, dtype=torch.bool)
    new = torch.nonzero(new_frames).flatten()
    if len(new) == 0:
        return []
    start = int(new[0]) if int(new[0]) >= context else 0
    end = min(n_frames, int(new[-1]) + 1 + margin)
    count = n_windows_for(end - start, window)
    starts = [start + w * window for w in range(count - 1)] + [max(start, end - window)]
    return [s for s in starts if bool(new_frames[s: s + window].any())]


def sample_motion(
    model: DiffPoseTalk,
    audio_feat: torch.Tensor,
    n_frames: int,
    person: torch.Tensor,
    has_style: bool,
    noise: torch.Tensor,
    *,
    sampler,
    steps: int,
    audio_scale: float = 1.15,
    style_scale: float = 3.0,
    guidance: str = "incremental",
    dynamic_threshold: float = 0.0,
    known: Optional[KnownMotion] = None,
    head_prior=None,
    generator: Optional[torch.Generator] = None,
    progress: Optional[Callable] = None,
    cancelled: Optional[Callable[[], bool]] = None,
) -> torch.Tensor:
    """Generate normalized motion for a whole clip.

    audio_feat (1, n_windows * L, W): denoiser memory, padded to whole windows (and one
    window more when ``known`` is given: an inpainting window may start anywhere);
    n_frames: real frames (<= n_windows * L); person (V, shape_dim + style_dim) per
    variation (style part = the style vector, or anything when has_style is False: the
    learned null style is used); noise (V, L, D): initial noise, reused for every window;
    sampler: a sampler object (``samplers.py``) on the model's schedule, run for ``steps``
    steps in every window; known: frames (of the n_frames) to keep, the rest is generated
    to join them (None: generate every frame); head_prior: a ``head_prior.HeadMotionPrior``
    that corrects every guided x0 prediction (None: none). Returns (V, n_frames, D).
    ``progress("denoise", window, n_windows, step, n_steps)`` after each step (windows
    counted among those sampled); ``cancelled()`` before each step raises ``Cancelled``.
    """
    cfg = model.cfg.denoiser
    L, P = cfg.n_motions, cfg.n_prev_motions
    n_var = noise.shape[0]
    cfg_guidance.style_branch_has_audio(guidance)  # an unknown mode fails before any work
    net = model.denoising_net

    n_branches = cfg_guidance.n_branches(has_style)
    person_in = cfg_guidance.branch_persons(person, model.person(person[:, : cfg.shape_dim]), has_style)
    null_audio = model.null_audio(n_var, L)

    # The clip's motion, window by window; the known frames are there from the start.
    motion = noise.new_zeros(n_var, audio_feat.shape[1], noise.shape[2])
    keep = torch.zeros(audio_feat.shape[1], dtype=torch.bool, device=noise.device)
    if known is not None:
        keep[:n_frames] = known.mask[:n_frames]
        motion[:, :n_frames][:, keep[:n_frames]] = known.motion[:n_frames][keep[:n_frames]].to(motion.dtype)
    starts = window_starts(n_frames, L, P, None if known is None else ~keep[:n_frames])
    for w, start in enumerate(starts):
        audio = audio_feat[:, start: start + L].expand(n_var, -1, -1)
        if start == 0:
            prev_motion, prev_audio = model.start_context(n_var)
        else:
            prev_motion, prev_audio = motion[:, start - P: start], audio_feat[:, start - P: start].expand(n_var, -1, -1)
        audio_in = cfg_guidance.branch_audio(audio, null_audio, has_style, guidance)
        prev_motion_in = prev_motion.repeat(n_branches, 1, 1)
        prev_audio_in = prev_audio.repeat(n_branches, 1, 1)
        n_valid = min(L, n_frames - start)
        indicator = None
        if cfg.use_indicator:
            indicator = noise.new_zeros(n_branches * n_var, L)
            indicator[:, :n_valid] = 1.0

        cache = net.memory_cache(prev_audio_in, audio_in)
        sampler.set_timesteps(steps)  # also forgets the last window's multistep state
        timesteps = sampler.timesteps
        window_keep = keep[start: start + L]
        constrained = bool(window_keep.any())
        known_x0 = motion[:, start: start + L]
        x = noise
        if constrained:
            x = _with_known(x, known_x0, window_keep, noise, sampler.schedule, timesteps[0])
        for i, t in enumerate(timesteps):
            if cancelled is not None and cancelled():
                raise Cancelled("generation cancelled")
            t_in = torch.full((n_branches * n_var,), t, dtype=torch.long, device=x.device)
            pred = net(x_t=x.repeat(n_branches, 1, 1), audio_feat=audio_in, person=person_in,
                       prev_motion=prev_motion_in, prev_audio=prev_audio_in, t=t_in, indicator=indicator, cache=cache)
            pred = pred[:, -L:].to(x.dtype)
            if dynamic_threshold > 0:
                pred = cfg_guidance.dynamic_threshold(pred, dynamic_threshold)
            x0 = cfg_guidance.guided(pred, has_style, audio_scale, style_scale, guidance)
            if head_prior is not None:
                x0 = head_prior(x0, None if start == 0 else prev_motion, n_valid,
                                (known_x0, window_keep) if constrained else None)
            x = sampler.step(x0, t, x, generator).prev_sample
            if constrained:
                x = _with_known(x, known_x0, window_keep, noise, sampler.schedule,
                                timesteps[i + 1] if i + 1 < len(timesteps) else 0)
            if progress is not None:
                progress("denoise", w, len(starts), i + 1, len(timesteps))
        motion[:, start: start + L] = x
        if known is not None:
            # A later window that overlaps this one keeps the first half of the overlap and
            # makes the rest again between it and the known frames after: so the end of a
            # range too long for one window is still joined inside a window.
            upto = start + L if w + 1 == len(starts) else (starts[w + 1] + start + L + 1) // 2
            keep[start: upto] = True
    return motion[:, :n_frames]


def _with_known(x, known_x0, keep, noise, schedule, t: int):
    """x (V, L, D) with its ``keep`` frames replaced by ``known_x0`` noised to step t with
    the window's own noise (t = 0: the known motion itself). The fixed noise keeps a
    deterministic sampler deterministic, and is a draw of q(x_t | x_0) like any other."""
    t_in = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
    return torch.where(keep[None, :, None], schedule.add_noise(known_x0, noise, t_in), x)
