"""Motion <-> rig channel curves, without bpy.

A motion (``exp`` (T, 50), ``pose`` (T, 6) head then jaw axis-angle in FLAME's frame,
``fps``) becomes per-channel curves for one rig, described by a ``RigSpec``: shape-key
values, bone-local rotation quaternions (w, x, y, z), FLAME pose-corrective values, for
FLAME rigs the small bone offsets that stand in for FLAME's expression-dependent joints,
and for bone rigs driven through poses the bones' combined poses (``core.pose_blend``).
``curves_to_motion`` is the exact inverse on the values written; a pose rig's channels
come back through ``pose_blend.solve_weights`` (exact where its poses move the bones
independently; of channels that share a pose, the first one mapped gets its weight).

Frames: FLAME's frame is Y up, face +Z; Blender's world is Z up, face -Y, so a FLAME
vector v is ``C @ v`` in the world with C = a +90 degree turn about X. A bone whose rest
orientation in the world is B turns by ``B^T C R C^T B`` in its own frame when the head
turns by R in FLAME's frame; ``RigSpec`` carries ``F = C^T B`` (the bone's rest axes in
FLAME terms), so the bone-local rotation vector is ``F^T r``. Rigs built by the add-on
(and by the FLAME add-on) have F = I: bone-local axis-angle equals the FLAME vector.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...backend.rotations import axis_angle_to_quat, quat_to_axis_angle, rodrigues
from ...backend.timebase import FPS
from . import pose_blend

# FLAME's frame to Blender's world frame: (x, y, z) -> (x, -z, y).
FLAME_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
POSE_CORRECTIVES = tuple(f"Pose{i + 1}" for i in range(18))  # neck 1..9, jaw 10..18


@dataclass
class RigSpec:
    """What a rig offers to a motion (built by ``addon.rigs.rig_spec`` from the scene).

    ``channels[k]`` lists (shape key, scale) pairs that expression channel k drives
    (value = scale * exp[k]). ``head_bone``/``jaw_bone`` are bone names or None; their
    ``*_axes`` are 3x3 rest axes in FLAME terms (see the module docstring). With no jaw
    bone, ``jaw_shape_key`` = (name, radians per unit) takes the jaw opening instead.
    ``joint_exp_dirs`` (5, 3, E) is FLAME's joint regressor applied to the expression
    basis (FLAME rigs built by the add-on); with it, the root and jaw bones get location
    keys so the skinned mesh matches FLAME exactly.

    Bone rigs: ``pose_channels[k]`` lists (pose name, weight per unit) pairs that channel k
    drives, ``jaw_pose`` = (pose name, weight per radian) takes the jaw opening, ``poses``
    holds each pose as {bone: ``pose_blend.BonePose``} and ``rotation_modes`` each posed
    bone's rotation mode (its curves are written in that mode).
    """

    kind: str
    expression_space: str
    channels: dict
    head_bone: str | None = None
    jaw_bone: str | None = None
    head_axes: np.ndarray = field(default_factory=lambda: np.eye(3))
    jaw_axes: np.ndarray = field(default_factory=lambda: np.eye(3))
    jaw_shape_key: tuple | None = None
    pose_correctives: bool = False
    joint_exp_dirs: np.ndarray | None = None
    pose_channels: dict = field(default_factory=dict)
    jaw_pose: tuple | None = None
    poses: dict = field(default_factory=dict)
    rotation_modes: dict = field(default_factory=dict)


@dataclass
class Curves:
    """Per-channel values at ``frames`` (T,): shape keys (T,), bone quaternions (T, 4), bone
    locations (T, 3), bone scales (T, 3), and rotations of posed bones in Euler or
    axis-angle mode as (property, (T, 3 or 4) values)."""

    frames: np.ndarray
    shape_keys: dict = field(default_factory=dict)
    rotations: dict = field(default_factory=dict)
    locations: dict = field(default_factory=dict)
    scales: dict = field(default_factory=dict)
    other_rotations: dict = field(default_factory=dict)


def quaternions(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle (T, 3) -> unit quaternions (T, 4) (w, x, y, z), signs kept continuous for interpolation."""
    quat = axis_angle_to_quat(rotvec)
    flips = np.cumsum(np.concatenate([[0], (quat[1:] * quat[:-1]).sum(-1) < 0]))
    return quat * np.where(flips % 2, -1.0, 1.0)[:, None]


def rotation_property(mode: str) -> str:
    """The pose-bone property that holds a rotation in ``mode``."""
    if mode in pose_blend.EULER_ORDERS:
        return "rotation_euler"
    return "rotation_axis_angle" if mode == "AXIS_ANGLE" else "rotation_quaternion"


def rotation_curves(rotvec: np.ndarray, mode: str):
    """(property, (T, n) values) that turn a pose bone in rotation ``mode`` by ``rotvec`` (T, 3):
    quaternions (w, x, y, z), Euler angles in the bone's order, or axis-angle (angle, x, y, z)."""
    rotvec = np.asarray(rotvec, np.float64)
    if mode in pose_blend.EULER_ORDERS:
        return "rotation_euler", pose_blend.matrix_to_euler(rodrigues(rotvec), mode)
    if mode == "AXIS_ANGLE":
        angle = np.linalg.norm(rotvec, axis=-1)
        axis = np.where(angle[:, None] > 1e-12, rotvec / np.maximum(angle, 1e-12)[:, None], [0.0, 1.0, 0.0])
        return "rotation_axis_angle", np.column_stack([angle, axis])
    return "rotation_quaternion", quaternions(rotvec)


def _pose_weights(spec: RigSpec, exp: np.ndarray, jaw: np.ndarray) -> dict:
    """{pose name: (T,) weight}: each mapped channel times its weight per unit, summed per pose."""
    weights = {}
    for k, targets in spec.pose_channels.items():
        for name, scale in targets:
            if k < exp.shape[1]:
                weights[name] = weights.get(name, 0.0) + scale * exp[:, k]
    if spec.jaw_pose:
        name, per_radian = spec.jaw_pose
        weights[name] = weights.get(name, 0.0) + per_radian * jaw[:, 0]
    return weights


def bone_axes(bone_rest_world: np.ndarray) -> np.ndarray:
    """A bone's rest axes in FLAME terms from its world rest matrix (3x3, scale allowed)."""
    u, _, vt = np.linalg.svd(np.asarray(bone_rest_world, dtype=np.float64))
    return FLAME_TO_BLENDER.T @ (u @ vt)


def frame_numbers(n_frames: int, motion_fps: float, frame_start: float, scene_fps: float) -> np.ndarray:
    """Scene frame of each motion frame: motion frame t sits at frame_start + t * scene_fps / motion_fps."""
    return frame_start + np.arange(n_frames) * (scene_fps / motion_fps)


def motion_to_curves(motion: dict, spec: RigSpec, frame_start: float, scene_fps: float) -> Curves:
    """Curves that pose ``spec``'s rig as ``motion`` (see the module docstring)."""
    if motion.get("expression_space", spec.expression_space) != spec.expression_space:
        raise ValueError(
            f"the motion is in the {motion['expression_space']!r} expression space but the rig "
            f"takes {spec.expression_space!r}; generate with a matching model or map the rig"
        )
    exp = np.asarray(motion["exp"], dtype=np.float64)
    pose = np.asarray(motion["pose"], dtype=np.float64)
    if exp.ndim != 2 or pose.shape != (len(exp), 6):
        raise ValueError(f"a motion needs exp (T, E) and pose (T, 6); got {exp.shape} and {pose.shape}")
    curves = Curves(frame_numbers(len(exp), float(motion.get("fps", FPS)), frame_start, scene_fps))
    for k, targets in spec.channels.items():
        for name, scale in targets:
            if k < exp.shape[1]:
                curves.shape_keys[name] = curves.shape_keys.get(name, 0.0) + scale * exp[:, k]
    head, jaw = pose[:, :3], pose[:, 3:]
    if spec.head_bone:
        curves.rotations[spec.head_bone] = quaternions(head @ spec.head_axes)
    if spec.jaw_bone:
        curves.rotations[spec.jaw_bone] = quaternions(jaw @ spec.jaw_axes)
    elif spec.jaw_shape_key:
        name, radians = spec.jaw_shape_key
        curves.shape_keys[name] = jaw[:, 0] / radians
    if spec.poses:
        for bone, track in pose_blend.combine(spec.poses, _pose_weights(spec, exp, jaw), len(exp)).items():
            if track.location is not None:
                curves.locations[bone] = track.location
            if track.scale is not None:
                curves.scales[bone] = track.scale
            if track.rotation is not None:
                prop, values = rotation_curves(track.rotation, spec.rotation_modes.get(bone, "QUATERNION"))
                if prop == "rotation_quaternion":
                    curves.rotations[bone] = values
                else:
                    curves.other_rotations[bone] = (prop, values)
    if spec.pose_correctives:
        neck = np.zeros((len(exp), 9))
        jaw_feature = (rodrigues(jaw) - np.eye(3)).reshape(len(exp), 9)
        for name, values in zip(POSE_CORRECTIVES, np.concatenate([neck, jaw_feature], 1).T):
            curves.shape_keys[name] = values
    if spec.joint_exp_dirs is not None:
        # FLAME moves its joints with the expression by d; a bone rotating by R about its
        # rest head matches when offset by (I - R) d in its rest frame.
        dirs = np.asarray(spec.joint_exp_dirs)
        e = min(exp.shape[1], dirs.shape[2])
        drift = np.einsum("jce,te->tjc", dirs[:, :, :e], exp[:, :e])
        for bone, joint, rot, axes in ((spec.head_bone, 0, head, spec.head_axes), (spec.jaw_bone, 2, jaw, spec.jaw_axes)):
            if bone:
                d = drift[:, joint]
                offset = d - np.einsum("tab,tb->ta", rodrigues(rot), d)
                curves.locations[bone] = offset @ axes
    return curves


def channels_read_back(spec: RigSpec, exp, pose, n_exp: int) -> tuple:
    """(exp (n_exp,) bool, pose (6,) bool): the channels of one frame (``exp`` (E,), ``pose``
    (6,)) that come back as they were after a write to ``spec``'s rig and a read of it
    (``curves_to_motion`` of ``motion_to_curves``). The others the rig does not have, or
    cannot tell apart (channels sharing a pose), so what is read there is not theirs."""
    frame = {"exp": np.asarray(exp, np.float64)[None], "pose": np.asarray(pose, np.float64)[None], "fps": FPS,
             "expression_space": spec.expression_space}
    back = curves_to_motion(motion_to_curves(frame, spec, 0.0, FPS), spec, n_exp, FPS)
    return (np.isclose(back["exp"][0], frame["exp"][0, :n_exp], atol=1e-4),
            np.isclose(back["pose"][0], frame["pose"][0], atol=1e-4))


def curves_to_motion(curves: Curves, spec: RigSpec, n_exp: int, fps: float) -> dict:
    """The motion that ``motion_to_curves`` turned into ``curves`` (values sampled at its frames)."""
    n = len(curves.frames)
    exp = np.zeros((n, n_exp))
    for k, targets in spec.channels.items():
        for name, scale in targets:
            if k < n_exp and name in curves.shape_keys and scale:
                exp[:, k] = np.asarray(curves.shape_keys[name]) / scale
                break
    pose = np.zeros((n, 6))
    if spec.head_bone in curves.rotations:
        pose[:, :3] = quat_to_axis_angle(np.asarray(curves.rotations[spec.head_bone])) @ spec.head_axes.T
    if spec.jaw_bone in curves.rotations:
        pose[:, 3:] = quat_to_axis_angle(np.asarray(curves.rotations[spec.jaw_bone])) @ spec.jaw_axes.T
    elif spec.jaw_shape_key and spec.jaw_shape_key[0] in curves.shape_keys:
        name, radians = spec.jaw_shape_key
        pose[:, 3] = np.asarray(curves.shape_keys[name]) * radians
    if spec.poses:
        _pose_channels_from_curves(curves, spec, exp, pose)
    return {
        "exp": exp.astype(np.float32),
        "pose": pose.astype(np.float32),
        "fps": float(fps),
        "expression_space": spec.expression_space,
    }


def _rotation_vectors(prop: str, values: np.ndarray) -> np.ndarray:
    """A posed bone's rotation curves ((T, 3 or 4) in ``prop``) as rotation vectors (T, 3)."""
    values = np.asarray(values, np.float64)
    if prop == "rotation_quaternion":
        return quat_to_axis_angle(values)
    if prop == "rotation_axis_angle":
        axis = values[:, 1:] / np.maximum(np.linalg.norm(values[:, 1:], axis=-1, keepdims=True), 1e-12)
        return axis * values[:, :1]
    raise ValueError(f"unknown rotation property {prop!r}")


def _pose_channels_from_curves(curves: Curves, spec: RigSpec, exp: np.ndarray, pose: np.ndarray) -> None:
    """Fill ``exp`` (and the jaw opening of ``pose``) from the posed bones' curves: the pose
    weights that give them, each pose's weight to the first channel mapped to it."""
    n = len(curves.frames)
    tracks = {}
    posed = {bone for bone_poses in spec.poses.values() for bone in bone_poses}
    for bone in posed:
        track = tracks.setdefault(bone, pose_blend.BoneTrack())
        if bone in curves.locations:
            track.location = np.asarray(curves.locations[bone], np.float64)
        if bone in curves.scales:
            track.scale = np.asarray(curves.scales[bone], np.float64)
        if bone in curves.other_rotations:
            prop, values = curves.other_rotations[bone]
            if prop == "rotation_euler":
                track.rotation = pose_blend.matrix_to_rotation_vector(
                    pose_blend.euler_to_matrix(values, spec.rotation_modes.get(bone, "XYZ")))
            else:
                track.rotation = _rotation_vectors(prop, values)
        elif bone in curves.rotations:
            track.rotation = _rotation_vectors("rotation_quaternion", curves.rotations[bone])
    weights = pose_blend.solve_weights(spec.poses, tracks, n)
    claimed = set()
    for k, targets in sorted(spec.pose_channels.items()):
        name, scale = next(((name, scale) for name, scale in targets if name in weights and scale), (None, 0))
        if name is not None and name not in claimed and k < exp.shape[1]:
            exp[:, k] = weights[name] / scale
            claimed.add(name)
    if spec.jaw_pose and spec.jaw_pose[0] in weights and spec.jaw_pose[0] not in claimed and spec.jaw_pose[1]:
        name, per_radian = spec.jaw_pose
        pose[:, 3] = weights[name] / per_radian
