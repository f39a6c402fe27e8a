"""A corpus's normalization statistics, computed in DiffPoseTalk's layout.

The stats file holds ``{shape,exp,pose}_{mean,std,max,min}`` (float32; exp 50, pose 6,
shape 100). ``mean``, ``max`` and ``min`` are over all frames. ``std`` for exp and pose is
the mean of per-window standard deviations: each clip is cut into consecutive
non-overlapping 100-frame windows, the std over time is taken inside each full window,
and those are averaged over all windows of the corpus. It measures motion within a
window (what the model sees) rather than the spread between clips, so it is smaller than
the global std. A clip's tail shorter than a window counts for mean/max/min only.
``shape`` is constant inside a clip (a per-window std would be zero), so its std is the
spread between clips (one value per clip).

Reading, checking and applying stats is ``backend.model.stats`` (one place for the
model and the training data): models normalize with ``(x - mean) / (std + 1e-9)``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..expression_spaces import EXPRESSION_DIM
from ..model.stats import FILE_KEYS, STATS_SIZES
from ..timebase import FPS
from .format import POSE_DIM, SHAPE_DIM, DatasetFormatError, load_clip, read_manifest

WINDOW = 100


class _Group:
    """Running sums for one group of channels."""

    def __init__(self, dim):
        self.total = np.zeros(dim, np.float64)
        self.count = 0
        self.max = np.full(dim, -np.inf)
        self.min = np.full(dim, np.inf)
        self.window_std_total = np.zeros(dim, np.float64)
        self.windows = 0

    def add_frames(self, values: np.ndarray, window: int | None):
        values = np.asarray(values, np.float64)
        self.total += values.sum(axis=0)
        self.count += len(values)
        self.max = np.maximum(self.max, values.max(axis=0))
        self.min = np.minimum(self.min, values.min(axis=0))
        if window is None:
            return
        n_full = len(values) // window
        if n_full:
            windows = values[: n_full * window].reshape(n_full, window, -1)
            self.window_std_total += windows.std(axis=1).sum(axis=0)
            self.windows += n_full

    @property
    def mean(self):
        if self.count == 0:
            raise DatasetFormatError("no clips to compute statistics from")
        return self.total / self.count

    @property
    def window_std(self):
        if self.windows == 0:
            raise DatasetFormatError(
                f"no clip has {WINDOW} frames: per-window std needs clips of at least {WINDOW / FPS:g} s")
        return self.window_std_total / self.windows

    def result(self, name, std):
        return {f"{name}_mean": self.mean, f"{name}_std": std, f"{name}_max": self.max, f"{name}_min": self.min}


class StatsAccumulator:
    """Feed clips one at a time (constant memory), then ``result()``."""

    def __init__(self, window: int = WINDOW):
        self.window = window
        self.exp = _Group(EXPRESSION_DIM)
        self.pose = _Group(POSE_DIM)
        self.shape = _Group(SHAPE_DIM)
        self._shape_squares = np.zeros(SHAPE_DIM, np.float64)

    def add(self, exp: np.ndarray, pose: np.ndarray, shape: np.ndarray | None = None):
        self.exp.add_frames(exp, self.window)
        self.pose.add_frames(pose, self.window)
        shape = np.zeros(SHAPE_DIM) if shape is None else np.asarray(shape, np.float64)
        self.shape.add_frames(shape[None], None)
        self._shape_squares += shape ** 2

    def result(self) -> dict:
        shape_mean = self.shape.mean
        shape_std = np.sqrt(np.maximum(self._shape_squares / self.shape.count - shape_mean ** 2, 0.0))
        stats = {}
        stats.update(self.shape.result("shape", shape_std))
        stats.update(self.exp.result("exp", self.exp.window_std))
        stats.update(self.pose.result("pose", self.pose.window_std))
        return {key: value.astype(np.float32) for key, value in stats.items()}


def compute_stats(clips, window: int = WINDOW) -> dict:
    """Stats over ``clips``: an iterable of objects with ``exp``, ``pose``, ``shape``."""
    accumulator = StatsAccumulator(window)
    for clip in clips:
        accumulator.add(clip.exp, clip.pose, clip.shape)
    return accumulator.result()


def compute_corpus_stats(root, split: str = "train", window: int = WINDOW) -> dict:
    """Stats over one split of a corpus (train only, so val/test stay unseen)."""
    root = Path(root)
    records = read_manifest(root, split)
    if not records:
        raise DatasetFormatError(f"{root}: no clips in split {split!r}")
    spaces = sorted({record.expression_space for record in records})
    if len(spaces) > 1:
        raise DatasetFormatError(f"{root} mixes expression spaces {spaces}; keep one corpus per space")
    return compute_stats((load_clip(root / record.motion) for record in records), window)


def save_stats(path, stats: dict):
    """Write a corpus's stats: every key of the layout, each of its group's size."""
    missing = [key for key in FILE_KEYS if key not in stats]
    if missing:
        raise DatasetFormatError(f"stats lack {', '.join(missing)}; recompute them with compute_corpus_stats")
    for key in FILE_KEYS:
        dim = STATS_SIZES[key.split("_")[0]]
        if np.shape(stats[key]) != (dim,):
            raise DatasetFormatError(f"stats: {key} must have shape ({dim},), got {np.shape(stats[key])}")
    np.savez(path, **{key: np.asarray(stats[key], np.float32) for key in FILE_KEYS})
