"""Fewer keys for a curve sampled once per frame, within a tolerance (no bpy).

The reduced curve is a Bezier F-curve whose handles sit at a third of the way to the
neighbouring keys, so that between two keys it is the cubic Hermite curve through their
values with their slopes (Blender solves the handles' x for the frame; with handles at
thirds x is linear in the curve parameter, and the curve is exactly that cubic). Each key's
slope is the motion's own (central differences), the same on both sides, so the handles
are aligned and the curve is smooth through every key: an animator can move a key or turn
a handle and the rest stays in place. Keys are chosen greedily: from each key, the next
one is the farthest frame such that the curve between them stays within the tolerance
of every frame's value.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ReducedCurve:
    keys: np.ndarray          # (K,) indices of the kept frames, first and last included
    co: np.ndarray            # (K, 2) frame, value of each key
    handle_left: np.ndarray   # (K, 2)
    handle_right: np.ndarray  # (K, 2)
    slopes: np.ndarray        # (K,) value per frame at each key, both sides
    max_error: float          # largest |reduced - original| over the original frames


def hermite(x0, x1, y0, y1, m0, m1, x):
    """The cubic through (x0, y0) and (x1, y1) with slopes m0, m1 (per frame), at x."""
    h = x1 - x0
    s = (np.asarray(x, np.float64) - x0) / h
    s2, s3 = s * s, s * s * s
    return ((2 * s3 - 3 * s2 + 1) * y0 + (s3 - 2 * s2 + s) * h * m0 + (3 * s2 - 2 * s3) * y1
            + (s3 - s2) * h * m1)


def evaluate(curve: ReducedCurve, x) -> np.ndarray:
    """The reduced curve at frames ``x`` (within its first and last key)."""
    x = np.asarray(x, np.float64)
    frames, values, slopes = curve.co[:, 0], curve.co[:, 1], curve.slopes
    if len(frames) == 1:
        return np.full(x.shape, values[0])
    segment = np.clip(np.searchsorted(frames, x, side="right") - 1, 0, len(frames) - 2)
    return hermite(frames[segment], frames[segment + 1], values[segment], values[segment + 1],
                   slopes[segment], slopes[segment + 1], x)


def reduce_keys(frames, values, tolerance: float) -> ReducedCurve:
    """The fewest keys (greedily) whose curve is within ``tolerance`` of ``values`` at every
    one of ``frames`` (increasing). A curve of one frame keeps its one key."""
    x = np.asarray(frames, np.float64)
    y = np.asarray(values, np.float64)
    n = len(x)
    if n != len(y) or n == 0:
        raise ValueError(f"frames and values must be non-empty and of one length, got {len(x)} and {len(y)}")
    if tolerance < 0:
        raise ValueError(f"the tolerance must be 0 or more, got {tolerance}")
    slopes = np.gradient(y, x) if n > 1 else np.zeros(1)

    def fits(i, j):
        inside = slice(i + 1, j)
        curve = hermite(x[i], x[j], y[i], y[j], slopes[i], slopes[j], x[inside])
        return j - i < 2 or float(np.abs(curve - y[inside]).max()) <= tolerance + 1e-9  # float rounding

    keys = [0]
    while keys[-1] < n - 1:
        start = keys[-1]
        good, bad, step = start + 1, None, 1
        while good < n - 1:  # gallop out, then halve back to the last end that fits
            trial = min(n - 1, good + step)
            if not fits(start, trial):
                bad = trial
                break
            good, step = trial, 2 * step
        while bad is not None and bad - good > 1:
            middle = (good + bad) // 2
            good, bad = (middle, bad) if fits(start, middle) else (good, middle)
        keys.append(good)
    keys = np.asarray(keys)
    co = np.column_stack([x[keys], y[keys]])
    m = slopes[keys]
    # Handles a third of the way to the neighbouring keys; the first and last key's outer
    # handle mirrors its inner one (a lone key gets a third of a frame each side).
    gaps = np.diff(x[keys]) / 3 if len(keys) > 1 else np.full(1, 1 / 3)
    gap_before, gap_after = np.concatenate([gaps[:1], gaps]), np.concatenate([gaps, gaps[-1:]])
    if len(keys) == 1:
        gap_before, gap_after = gaps, gaps
    handle_left = np.column_stack([co[:, 0] - gap_before, co[:, 1] - m * gap_before])
    handle_right = np.column_stack([co[:, 0] + gap_after, co[:, 1] + m * gap_after])
    curve = ReducedCurve(keys, co, handle_left, handle_right, m, 0.0)
    curve.max_error = float(np.abs(evaluate(curve, x) - y).max())
    return curve
