"""Which frames of a shared Action each take's keys cover (no bpy).

Several takes go into one Action of ours on a rig (a batch's strips, or takes generated one
after the other): each over its own frames, a later one winning where they overlap. The
Action records, per take (its name, ``<strip> lip-sync``), the frame intervals its keys
still cover, so that when the take is written again (its strip shortened or moved, another
variation, an adjustment) its old keys outside its new frames can be removed, and only
those: keys of other takes, and keys the artist inserted, stay.
"""
from __future__ import annotations

import numpy as np

# Two frames closer than this are the same frame (keys lie on whole or sub-frames).
FRAME_EPSILON = 1e-3


def subtract(intervals, start: float, end: float) -> list:
    """``intervals`` ([[first, last], ...], both frames included) less the frames from
    ``start`` to ``end``; what is left ends just short of them."""
    gap = 2 * FRAME_EPSILON
    left = []
    for first, last in intervals:
        if last < start - FRAME_EPSILON or first > end + FRAME_EPSILON:
            left.append([first, last])
            continue
        if first <= start - gap:
            left.append([first, start - gap])
        if last >= end + gap:
            left.append([end + gap, last])
    return left


def after_write(spans: dict, take: str, start: float, end: float) -> dict:
    """The spans once ``take`` is written over ``start``..``end``: its own are those frames,
    the other takes lose them (a take left with no frames is dropped)."""
    written = {name: subtract(intervals, start, end) for name, intervals in spans.items() if name != take}
    written = {name: intervals for name, intervals in written.items() if intervals}
    written[take] = [[float(start), float(end)]]
    return written


def inside(frames: np.ndarray, intervals) -> np.ndarray:
    """Which of ``frames`` lie in one of ``intervals``."""
    frames = np.asarray(frames, np.float64)
    hit = np.zeros(len(frames), bool)
    for first, last in intervals:
        hit |= (frames >= first - FRAME_EPSILON) & (frames <= last + FRAME_EPSILON)
    return hit


def kept_keys(frames, generated, own_intervals, start: float, end: float) -> np.ndarray:
    """Which keys of the Action before a take's write go back beside it: none over the new
    take's frames ``start``..``end``, and none that the take wrote before (``generated``
    keys inside ``own_intervals``, its old frames); every other key, the artist's included."""
    frames = np.asarray(frames, np.float64)
    outside = (frames < start - FRAME_EPSILON) | (frames > end + FRAME_EPSILON)
    return outside & ~(np.asarray(generated, bool) & inside(frames, own_intervals))
