"""The generation loop: windows, guidance, sampler steps, progress and cancel.

Long clips are generated in windows of L = 100 frames with stride L and no overlap.
Window k is conditioned on the last P = 10 generated frames and the last P audio features
of window k - 1 (the first window uses the learned start features); the last window is
padded (indicator 0) and the padding is cut. The same initial noise is used for every
window, as in the reference.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import torch

from . import guidance as cfg_guidance
from .errors import Cancelled
from .model import DiffPoseTalk


def n_windows_for(n_frames: int, window: int) -> int:
    return max(1, math.ceil(n_frames / window))


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
    generator: Optional[torch.Generator] = None,
    progress: Optional[Callable] = None,
    cancelled: Optional[Callable[[], bool]] = None,
) -> torch.Tensor:
    """Generate normalized motion for a whole clip.

    audio_feat (1, n_windows * L, W): denoiser memory, padded to whole windows;
    n_frames: real frames (<= n_windows * L); person (V, shape_dim + style_dim) per
    variation (style part = the style vector, or anything when has_style is False: the
    learned null style is used); noise (V, L, D): initial noise, reused for every window;
    sampler: a sampler object (``samplers.py``) on the model's schedule, run for ``steps``
    steps in every window. Returns (V, n_frames, D). ``progress("denoise", window, n_windows, step, n_steps)``
    after each step; ``cancelled()`` before each step raises ``Cancelled``.
    """
    cfg = model.cfg.denoiser
    L, P = cfg.n_motions, cfg.n_prev_motions
    n_var = noise.shape[0]
    n_windows = audio_feat.shape[1] // L
    cfg_guidance.style_branch_has_audio(guidance)  # an unknown mode fails before any work
    net = model.denoising_net

    n_branches = cfg_guidance.n_branches(has_style)
    person_in = cfg_guidance.branch_persons(person, model.person(person[:, : cfg.shape_dim]), has_style)
    null_audio = model.null_audio(n_var, L)

    prev_motion, prev_audio = model.start_context(n_var)
    out = []
    for w in range(n_windows):
        audio = audio_feat[:, w * L: (w + 1) * L].expand(n_var, -1, -1)
        audio_in = cfg_guidance.branch_audio(audio, null_audio, has_style, guidance)
        prev_motion_in = prev_motion.repeat(n_branches, 1, 1)
        prev_audio_in = prev_audio.repeat(n_branches, 1, 1)
        n_valid = min(L, n_frames - w * L)
        indicator = None
        if cfg.use_indicator:
            indicator = noise.new_zeros(n_branches * n_var, L)
            indicator[:, :n_valid] = 1.0

        cache = net.memory_cache(prev_audio_in, audio_in)
        sampler.set_timesteps(steps)  # also forgets the last window's multistep state
        timesteps = sampler.timesteps
        x = noise
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
            x = sampler.step(x0, t, x, generator).prev_sample
            if progress is not None:
                progress("denoise", w, n_windows, i + 1, len(timesteps))
        prev_motion = x[:, -P:]
        prev_audio = audio[:, -P:]
        out.append(x[:, :n_valid])
    return torch.cat(out, dim=1)
