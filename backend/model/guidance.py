"""Classifier-free guidance over the audio and style conditions (Ho & Salimans 2022).

The pipeline evaluates the branches in one batched forward, branch-major, in this order:
e0 = (no audio, no style), e1 = (audio, no style), and, when a style is given,
e2 = (audio, style) for "incremental" or e2' = (no audio, style) for "independent".
``branch_persons`` and ``branch_audio`` build the batch; ``guided`` splits the
prediction and combines the branches.
"""
from __future__ import annotations

import torch

GUIDANCE_MODES = ("incremental", "independent")


def style_branch_has_audio(mode: str) -> bool:
    if mode not in GUIDANCE_MODES:
        raise ValueError(f"unknown guidance {mode!r}; choose one of {GUIDANCE_MODES}")
    return mode == "incremental"


def n_branches(has_style: bool) -> int:
    return 3 if has_style else 2


def branch_persons(person, null_person, has_style: bool):
    """(B * V, shape + style) person vectors of the branches: the null style in e0 and e1."""
    return torch.cat([null_person, null_person] + ([person] if has_style else []), dim=0)


def branch_audio(audio, null_audio, has_style: bool, mode: str):
    """(B * V, L, W) audio of the branches: none in e0, the window's in e1, and in the
    style branch the window's ("incremental") or none ("independent")."""
    style_audio = [audio if style_branch_has_audio(mode) else null_audio] if has_style else []
    return torch.cat([null_audio, audio] + style_audio, dim=0)


def guided(pred, has_style: bool, audio_scale: float, style_scale: float, mode: str):
    """The guided x0 from the batched prediction of the branches, (B * V, ...) -> (V, ...)."""
    branches = pred.chunk(n_branches(has_style))
    return combine(branches[0], branches[1], branches[2] if has_style else None, audio_scale, style_scale, mode)


def combine(e0, e1, e2, audio_scale: float, style_scale: float, mode: str):
    """Guided x0 prediction from the branch predictions (all the same shape).

    incremental (the reference's mode): x0 = e0 + s_a (e1 - e0) + s_s (e2 - e1).
    independent: x0 = e0 + s_a (e1 - e0) + s_s (e2' - e0). The reference accumulates into
    e0 in place, so its style term ends up as s_s (e2' - x_audio_guided); we use the
    formula as written, each condition guided against the unconditional branch.
    ``e2`` may be None (no style given): the style term is then zero in both modes,
    because the style branch would repeat the no-style branch.
    """
    x0 = e0 + audio_scale * (e1 - e0)
    if e2 is not None:
        x0 = x0 + style_scale * (e2 - (e1 if style_branch_has_audio(mode) else e0))
    return x0


def dynamic_threshold(x0: torch.Tensor, ratio: float, lo: float = 1.0, hi: float = 4.0) -> torch.Tensor:
    """Imagen's dynamic thresholding (Saharia et al. 2022, sec. 2.3) per sample:
    s = clamp(quantile(|x0|, ratio), lo, hi), then x0 is clamped to [-s, s]. x0 (N, ...)."""
    s = torch.quantile(x0.reshape(x0.shape[0], -1).abs().float(), ratio, dim=1).clamp(lo, hi)
    s = s.to(x0.dtype).view(-1, *([1] * (x0.ndim - 1)))
    return torch.maximum(torch.minimum(x0, s), -s)
