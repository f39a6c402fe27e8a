"""Normalization statistics (their layout, reading, checking and use) and the model's
motion vector; how a corpus's stats are computed is ``backend.data.stats``.

Stats layout (the reference's ``stats_train.npz``): ``{shape,exp,pose}_{mean,std,max,min}``
with shape (100,), exp (50,) and pose (6,) = head rotation (3) then jaw (3); a model needs
the means and stds. The model vector is [exp 50, head rotation 3, jaw x 1] (D = 54) or
[exp 50, jaw x 1] (D = 51), in normalized units (x - mean) / (std + 1e-9).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import CheckpointError

EPS = 1e-9
STATS_NAME = "stats.npz"  # in a checkpoint or corpus folder
FILE_KEYS = tuple(f"{part}_{kind}" for part in ("shape", "exp", "pose") for kind in ("mean", "std", "max", "min"))
STATS_KEYS = tuple(f"{part}_{kind}" for part in ("shape", "exp", "pose") for kind in ("mean", "std"))
STATS_SIZES = {"shape": 100, "exp": 50, "pose": 6}


def load_stats(path) -> dict:
    """Read a stats .npz (ours, the reference's stats_train.npz, or ``stats.npz`` of a
    checkpoint or corpus folder) and check its layout."""
    path = Path(path)
    if path.is_dir():
        path = path / STATS_NAME
    if not path.exists():
        raise CheckpointError(f"stats file {path} not found; a model needs the statistics it was trained with, "
                              "a corpus gets them from import-data or synth-data")
    with np.load(path, allow_pickle=False) as data:
        stats = {k: np.asarray(data[k], dtype=np.float32) for k in data.files}
    return check_stats(stats, str(path))


def check_stats(stats: dict, where: str = "stats") -> dict:
    missing = [k for k in STATS_KEYS if k not in stats]
    if missing:
        raise CheckpointError(f"{where} lacks {missing}; expected the {{shape,exp,pose}}_{{mean,std}} layout")
    for key in STATS_KEYS:
        size = STATS_SIZES[key.split("_")[0]]
        if np.shape(stats[key])[-1:] != (size,):
            raise CheckpointError(f"{where}: {key} has shape {np.shape(stats[key])}, expected ({size},)")
    return stats


def normalize(x: np.ndarray, stats: dict, part: str) -> np.ndarray:
    return (x - stats[f"{part}_mean"]) / (stats[f"{part}_std"] + EPS)


def denormalize(x: np.ndarray, stats: dict, part: str) -> np.ndarray:
    return x * (stats[f"{part}_std"] + EPS) + stats[f"{part}_mean"]


# Where the head rotation (axis-angle x, y, z) sits in a model vector with head pose.
HEAD_CHANNELS = (50, 51, 52)


def motion_to_vector(exp: np.ndarray, pose: np.ndarray, stats: dict, head_pose: bool) -> np.ndarray:
    """exp (T, 50), pose (T, 6) -> normalized model vector (T, 54 or 51), float32.

    Jaw rotation about y and z is not modelled and is dropped.
    """
    exp_n, pose_n = normalize(exp, stats, "exp"), normalize(pose, stats, "pose")
    parts = [exp_n, pose_n[:, :3], pose_n[:, 3:4]] if head_pose else [exp_n, pose_n[:, 3:4]]
    return np.concatenate(parts, axis=1).astype(np.float32)


def vector_to_motion(vec: np.ndarray, stats: dict) -> tuple:
    """Normalized model vector (T, 54 or 51) -> exp (T, 50), pose (T, 6), float32.

    Jaw y, z decode to the dataset mean (zero before denormalizing); a model without head
    pose gets zero head rotation after denormalizing, as the reference does.
    """
    head_pose = vec.shape[1] == 54
    pose_n = np.zeros((vec.shape[0], 6), dtype=np.float32)
    if head_pose:
        pose_n[:, :4] = vec[:, 50:54]
    else:
        pose_n[:, 3] = vec[:, 50]
    pose = denormalize(pose_n, stats, "pose")
    if not head_pose:
        pose[:, :3] = 0.0
    return denormalize(vec[:, :50], stats, "exp").astype(np.float32), pose.astype(np.float32)
