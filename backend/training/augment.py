"""Random choices of a training step: condition dropout, truncation, amplitude scaling.

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


# Our default model also scales the head motion of some samples about its mean, target and
# style reference alike (``amplitude_factors``), so that the denoiser learns to follow a
# reference's head amplitude beyond the corpus's own range; the reference does not.
HEAD_SCALE_PROBABILITY = 0.3
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
