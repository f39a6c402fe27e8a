"""Bone poses combined additively, frame by frame, without bpy.

A bone rig (Rigify's face, Auto-Rig Pro-style controls) is driven through poses: each
model channel maps to a pose (an Action or pose asset on the armature) whose bones, at
weight 1, are where that channel at 1 puts them. At a frame with channel weights w_i the
rig is ``rest + sum_i w_i * (pose_i - rest)`` in each bone's local space (pose-bone
channels, where the rest pose is location 0, no rotation, scale 1):

- location: ``sum_i w_i * location_i``
- scale: ``1 + sum_i w_i * (scale_i - 1)``
- rotation: the poses' rotation vectors (axis * angle) summed, ``sum_i w_i * r_i``, then
  turned back into a rotation. At weight 1 a single pose comes back exactly, the order of
  the poses does not matter (unlike multiplying quaternions), and for the small rotations
  of a face the sum is the rotations composed to first order. Weights above 1 or below 0
  extrapolate along the same axis.

Only the channels a pose keys are driven: a bone that only some poses rotate gets rotation
curves and nothing else, so the rest of the rig stays the animator's.

``solve_weights`` is the inverse, for reading a posed rig back (From Rig): the pose
weights that give the bones' channels, by least squares over the poses' deltas from the
rest (exact where the poses move the bones independently, as they do when each was keyed
for its own shape).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...backend.rotations import quat_to_axis_angle

EULER_ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")


@dataclass
class BonePose:
    """One bone's local transform in a pose; None: the pose does not key that channel."""

    location: np.ndarray | None = None   # (3,)
    rotation: np.ndarray | None = None   # (3,) rotation vector in the bone's local space
    scale: np.ndarray | None = None      # (3,)


@dataclass
class BoneTrack:
    """One bone's combined channels over T frames; None where no pose keys the channel."""

    location: np.ndarray | None = None   # (T, 3)
    rotation: np.ndarray | None = None   # (T, 3) rotation vectors
    scale: np.ndarray | None = None      # (T, 3)


def combine(poses: dict, weights: dict, n_frames: int) -> dict:
    """{bone: BoneTrack} for ``poses`` ({pose name: {bone: BonePose}}) at per-frame
    ``weights`` ({pose name: (T,)}); poses without weights are left out."""
    tracks = {}
    for name, w in weights.items():
        w = np.asarray(w, np.float64).reshape(n_frames, 1)
        for bone, pose in poses[name].items():
            track = tracks.setdefault(bone, BoneTrack())
            for channel, rest in (("location", 0.0), ("rotation", 0.0), ("scale", 1.0)):
                value = getattr(pose, channel)
                if value is None:
                    continue
                total = getattr(track, channel)
                if total is None:
                    total = np.full((n_frames, 3), rest)
                setattr(track, channel, total + w * (np.asarray(value, np.float64) - rest))
    return tracks


def rotation_vector_from_quaternion(quaternion) -> np.ndarray:
    """A pose's rotation (w, x, y, z) as a rotation vector (the shorter way round)."""
    return quat_to_axis_angle(np.asarray(quaternion, np.float64).reshape(1, 4))[0]


def _axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations by ``angle`` (T,) about coordinate ``axis``."""
    c, s = np.cos(angle), np.sin(angle)
    m = np.zeros((len(angle), 3, 3))
    j, k = (axis + 1) % 3, (axis + 2) % 3
    m[:, axis, axis] = 1.0
    m[:, j, j], m[:, j, k], m[:, k, j], m[:, k, k] = c, -s, s, c
    return m


def euler_to_matrix(euler, order: str) -> np.ndarray:
    """(T, 3) Euler angles (x, y, z) in Blender's ``order`` (first letter applied first) -> (T, 3, 3)."""
    euler = np.atleast_2d(np.asarray(euler, np.float64))
    axes = ["XYZ".index(letter) for letter in order]
    m = _axis_rotation(axes[0], euler[:, axes[0]])
    for axis in axes[1:]:
        m = _axis_rotation(axis, euler[:, axis]) @ m
    return m


def matrix_to_euler(m: np.ndarray, order: str) -> np.ndarray:
    """(T, 3, 3) rotations -> (T, 3) Euler angles (x, y, z) in ``order``, each axis unwrapped
    over time so that the curves have no jumps of 2 pi."""
    i, j, k = ("XYZ".index(letter) for letter in order)
    sign = 1.0 if (j - i) % 3 == 1 else -1.0   # XYZ, YZX, ZXY turn one way, the others the other
    angles = np.zeros((len(m), 3))
    angles[:, j] = np.arcsin(np.clip(-sign * m[:, k, i], -1.0, 1.0))
    angles[:, i] = np.arctan2(sign * m[:, k, j], m[:, k, k])
    angles[:, k] = np.arctan2(sign * m[:, j, i], m[:, i, i])
    return np.unwrap(angles, axis=0)


def matrix_to_rotation_vector(m: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations -> (T, 3) rotation vectors (angles below pi)."""
    m = np.asarray(m, np.float64)
    skew = np.stack([m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], -1)
    angle = np.arccos(np.clip((np.trace(m, axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0))
    sine = np.sin(angle)
    factor = np.where(sine > 1e-9, angle / np.maximum(2.0 * sine, 1e-12), 0.5)
    return skew * factor[:, None]


def solve_weights(poses: dict, tracks: dict, n_frames: int) -> dict:
    """{pose name: (T,) weight} whose ``combine`` comes closest (least squares) to the
    observed ``tracks`` ({bone: BoneTrack}; a channel missing there counts as at rest)."""
    names = list(poses)
    if not names:
        return {}
    columns, observed = [], []
    for bone in sorted({bone for pose in poses.values() for bone in pose}):
        track = tracks.get(bone, BoneTrack())
        for channel, rest in (("location", 0.0), ("rotation", 0.0), ("scale", 1.0)):
            deltas = [getattr(poses[name].get(bone, BonePose()), channel) for name in names]
            if all(delta is None for delta in deltas):
                continue
            columns.append(np.stack([np.zeros(3) if d is None else np.asarray(d, np.float64) - rest for d in deltas], 1))
            value = getattr(track, channel)
            observed.append(np.zeros((n_frames, 3)) if value is None else np.asarray(value, np.float64) - rest)
    deltas = np.concatenate(columns, 0)              # (channels, poses)
    values = np.concatenate(observed, 1).T           # (channels, T)
    weights, *_ = np.linalg.lstsq(deltas, values, rcond=None)
    return {name: weights[i] for i, name in enumerate(names)}
