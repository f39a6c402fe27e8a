"""Random choices of a denoiser training step: condition dropout and truncation.

Both draw from a ``torch.Generator`` that the trainer saves with its state, so a resumed
run makes the same choices as an uninterrupted one.
"""
from __future__ import annotations

import torch

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
