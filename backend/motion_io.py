"""Motion files and motion maths: ``.npz`` writes (through ``atomic_files``), frame-rate
resampling, head scale.

A motion is a dict with ``exp`` (T, 50), ``pose`` (T, 6: head axis-angle, jaw
axis-angle), ``fps`` and ``expression_space`` (the output file of docs/protocol.md). Rotations are never
interpolated component-wise: they go through unit quaternions and slerp. A take also
carries ``raw_exp`` and ``raw_pose``, the model's motion before the animator's
adjustments (``raw_motion``), and its ``settings``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .atomic_files import write_all_atomically
from .expression_spaces import EXPRESSION_DIM, SPACES
from .rotations import (
    axis_angle_to_quat,
    quat_conjugate,
    quat_multiply,
    quat_to_axis_angle,
    slerp,
)
from .timebase import FPS


class MotionFileError(ValueError):
    """A motion file is missing, unreadable or not a motion."""


def mean_rotation(q: np.ndarray) -> np.ndarray:
    """Mean of unit quaternions (T, 4): the principal eigenvector of sum(q q^T)."""
    _, vectors = np.linalg.eigh(q.T @ q)
    mean = vectors[:, -1]
    return mean if mean[0] >= 0 else -mean


# ---------------------------------------------------------------------- resampling

def resampled_length(frames: int, fps_in: float, fps_out: float) -> int:
    """Frames at ``fps_out`` covering the duration of ``frames`` at ``fps_in``."""
    return max(1, int(round(frames * fps_out / fps_in)))


RAW_KEYS = ("raw_exp", "raw_pose")


def raw_motion(motion: dict) -> dict:
    """The motion before adjustments: a take's ``raw_exp`` and ``raw_pose``, or the motion
    itself for a file without them (written before adjustments existed, or by other tools)."""
    plain = {key: value for key, value in motion.items() if key not in RAW_KEYS}
    if "raw_exp" in motion:
        plain.update(exp=motion["raw_exp"], pose=motion["raw_pose"])
    return plain


def resample_motion(motion: dict, fps_out: float) -> dict:
    """The motion at another frame rate: expression linear, rotations by slerp.

    Output frame i shows time i / fps_out; times past the last input frame hold it. A
    take's raw arrays are left out (resample ``raw_motion`` for them).
    """
    motion = {key: value for key, value in motion.items() if key not in RAW_KEYS}
    fps_in = float(motion["fps"])
    exp = np.asarray(motion["exp"], np.float32)
    pose = np.asarray(motion["pose"], np.float32)
    frames = len(exp)
    if frames == 0 or abs(fps_out - fps_in) < 1e-9:
        return {**motion, "exp": exp, "pose": pose, "fps": float(fps_out) if frames else fps_in}
    n_out = resampled_length(frames, fps_in, fps_out)
    position = np.minimum(np.arange(n_out) * (fps_in / fps_out), frames - 1)
    i0 = np.floor(position).astype(np.int64)
    i1 = np.minimum(i0 + 1, frames - 1)
    t = position - i0
    new_exp = exp[i0] * (1.0 - t[:, None]) + exp[i1] * t[:, None]
    rotations = []
    for k in range(0, pose.shape[1], 3):
        q = axis_angle_to_quat(pose[:, k : k + 3])
        rotations.append(quat_to_axis_angle(slerp(q[i0], q[i1], t)))
    return {
        **motion,
        "exp": new_exp.astype(np.float32),
        "pose": np.concatenate(rotations, axis=1).astype(np.float32),
        "fps": float(fps_out),
    }


def head_about_mean(pose: np.ndarray, mean: np.ndarray | None = None) -> tuple:
    """(mean rotation as a unit quaternion, (T, 3) each frame's head rotation relative to it
    as a rotation vector): the space in which the head is scaled and smoothed. ``mean``:
    another rotation to be relative to (default: the mean of these)."""
    q = axis_angle_to_quat(np.asarray(pose, np.float32)[:, :3])
    mean = mean_rotation(q) if mean is None else mean
    return mean, quat_to_axis_angle(quat_multiply(np.broadcast_to(quat_conjugate(mean), q.shape), q))


def head_from_mean(mean: np.ndarray, relative: np.ndarray) -> np.ndarray:
    """(T, 3) head axis-angles from ``head_about_mean``'s two parts."""
    q = axis_angle_to_quat(relative)
    return quat_to_axis_angle(quat_multiply(np.broadcast_to(mean, q.shape), q))


def scale_head_motion(pose: np.ndarray, scale: float) -> np.ndarray:
    """Scale the head rotation (pose[:, :3]) about its mean rotation; the jaw is kept.

    Each frame's rotation relative to the mean has its angle multiplied by ``scale``:
    0 holds the head still at its mean orientation, 1 changes nothing.
    """
    pose = np.asarray(pose, np.float32).copy()
    if scale == 1.0 or len(pose) == 0:
        return pose
    mean, relative = head_about_mean(pose)
    pose[:, :3] = head_from_mean(mean, relative * scale)
    return pose


# ---------------------------------------------------------------------------- files

def save_motion(path, motion: dict, settings: dict | None = None) -> Path:
    """Write a motion ``.npz`` atomically (see ``write_all_atomically``)."""
    save_motions([(path, motion, settings)])
    return Path(path)


def save_motions(items) -> None:
    """Write ``(path, motion, settings)`` items as one set: all of them or none."""
    files = []
    for path, motion, settings in items:
        arrays = {
            "exp": np.asarray(motion["exp"], np.float32),
            "pose": np.asarray(motion["pose"], np.float32),
            "fps": np.float64(motion["fps"]),
            "expression_space": np.str_(motion["expression_space"]),
            "shape": np.asarray(motion["shape"] if motion.get("shape") is not None else np.zeros(100), np.float32),
        }
        arrays.update({key: np.asarray(motion[key], np.float32) for key in RAW_KEYS if key in motion})
        if settings is not None:
            arrays["settings"] = np.str_(json.dumps(settings, sort_keys=True, allow_nan=False))
        files.append((path, lambda f, arrays=arrays: np.savez(f, **arrays)))
    write_all_atomically(files)


def load_motion(path) -> dict:
    """Read a motion ``.npz`` (ours or the reference demo's) and check its arrays."""
    path = Path(path)
    if not path.is_file():
        raise MotionFileError(f"motion file {str(path)!r} does not exist; check the path")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise MotionFileError(f"{str(path)!r} is not a readable .npz motion file ({exc}); "
                              "give a file with exp, pose and fps arrays") from None
    missing = [key for key in ("exp", "pose") if key not in arrays]
    if missing:
        raise MotionFileError(f"{str(path)!r} has no {' or '.join(missing)} array; a motion file needs "
                              "exp (T, 50) and pose (T, 6)")
    motion = {
        "exp": arrays["exp"].astype(np.float32),
        "pose": arrays["pose"].astype(np.float32),
        # The reference demo's files carry no fps or space: they are FLAME at 25 fps.
        "fps": float(arrays["fps"]) if "fps" in arrays else FPS,
        "expression_space": str(arrays["expression_space"]) if "expression_space" in arrays else "flame",
    }
    if "shape" in arrays:
        motion["shape"] = arrays["shape"].astype(np.float32).reshape(-1)
    if all(key in arrays for key in RAW_KEYS):
        motion.update({key: arrays[key].astype(np.float32) for key in RAW_KEYS})
        check_motion(raw_motion(motion), f"{path} (its raw motion)")
        if motion["raw_exp"].shape != motion["exp"].shape:
            raise MotionFileError(f"{str(path)!r}: raw_exp and exp have different shapes; the take is damaged, "
                                  "generate it again")
    if "settings" in arrays:
        try:
            motion["settings"] = json.loads(str(arrays["settings"]))
        except ValueError as exc:
            raise MotionFileError(f"{str(path)!r}: its settings are not JSON ({exc}); the take is damaged") from None
    return check_motion(motion, str(path))


def check_motion(motion: dict, where: str = "motion") -> dict:
    exp, pose = motion["exp"], motion["pose"]
    if exp.ndim != 2 or pose.ndim != 2 or pose.shape[1] != 6 or len(exp) != len(pose):
        raise MotionFileError(f"{where}: exp must be (T, {EXPRESSION_DIM}) and pose (T, 6) with the same T; "
                              f"got {exp.shape} and {pose.shape}")
    if exp.shape[1] != EXPRESSION_DIM:
        raise MotionFileError(f"{where}: exp has {exp.shape[1]} channels; the expression spaces have "
                              f"{EXPRESSION_DIM}. Export the clip in the model's expression space")
    if len(exp) == 0:
        raise MotionFileError(f"{where} has no frames; give a clip of at least one frame")
    if not (np.all(np.isfinite(exp)) and np.all(np.isfinite(pose))):
        raise MotionFileError(f"{where} contains NaN or infinite values; fix or re-export the clip")
    if not (np.isfinite(motion["fps"]) and motion["fps"] > 0):
        raise MotionFileError(f"{where}: fps must be a positive number, got {motion['fps']}")
    if motion["expression_space"] not in SPACES:
        raise MotionFileError(f"{where}: unknown expression space {motion['expression_space']!r}; "
                              f"known: {', '.join(sorted(SPACES))}")
    return motion


def trim_motion(motion: dict, start=None, end=None) -> dict:
    """Frames of ``motion`` between ``start`` and ``end`` seconds."""
    fps = float(motion["fps"])
    first = int(round((start or 0.0) * fps))
    last = len(motion["exp"]) if end is None else int(round(end * fps))
    if last <= first or first >= len(motion["exp"]):
        raise MotionFileError(f"the clip has no frames between {start or 0:g} s and "
                              f"{'the end' if end is None else f'{end:g} s'}; it is "
                              f"{len(motion['exp']) / fps:.2f} s long")
    return {**motion, "exp": motion["exp"][first:last], "pose": motion["pose"][first:last]}
