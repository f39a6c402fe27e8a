"""The bpy-free rig maths: quaternions, bone frames, correctives and the motion <-> curves inverse."""
import numpy as np
import pytest
from diffposetalk.addon.core import rig_math
from diffposetalk.addon.core.rig_math import RigSpec, channels_read_back, curves_to_motion, motion_to_curves

from backend.expression_spaces import ARKIT_JAW_OPEN_RADIANS
from backend.rotations import quat_to_axis_angle, rodrigues


def random_rotation(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def motion(rng, n=20, space="flame"):
    return {"exp": rng.normal(0, 1, (n, 50)).astype(np.float32), "pose": rng.normal(0, 0.4, (n, 6)).astype(np.float32),
            "fps": 25.0, "expression_space": space}


def test_quaternions_round_trip_and_stay_continuous():
    rng = np.random.default_rng(0)
    rotvec = rng.normal(0, 1, (200, 3))
    rotvec *= np.minimum(1, 3.0 / np.linalg.norm(rotvec, axis=1, keepdims=True))   # angles below pi
    quat = rig_math.quaternions(rotvec)
    np.testing.assert_allclose(np.linalg.norm(quat, axis=1), 1, atol=1e-12)
    np.testing.assert_allclose(quat_to_axis_angle(quat), rotvec, atol=1e-9)
    np.testing.assert_allclose(quat_to_axis_angle(-quat), rotvec, atol=1e-9)
    assert np.all((quat[1:] * quat[:-1]).sum(1) >= 0)   # no sign flips between neighbours
    assert np.allclose(rig_math.quaternions(np.array([[0.3, 0, 0]])), [[np.cos(0.15), np.sin(0.15), 0, 0]])


def test_bone_local_rotation_respects_the_bone_rest_frame():
    """A bone whose rest axes are F (in FLAME terms) turns by F^T R F for a FLAME rotation R."""
    rng = np.random.default_rng(1)
    axes = random_rotation(rng)
    world_rest = rig_math.FLAME_TO_BLENDER @ axes * 2.5   # object scale must not matter
    np.testing.assert_allclose(rig_math.bone_axes(world_rest), axes, atol=1e-12)
    m = motion(rng)
    spec = RigSpec("flame", "flame", {}, head_bone="root", jaw_bone="jaw", head_axes=axes, jaw_axes=np.eye(3))
    curves = motion_to_curves(m, spec, 1, 25.0)
    local = rodrigues(quat_to_axis_angle(curves.rotations["root"]))
    flame = rodrigues(m["pose"][:, :3].astype(np.float64))
    np.testing.assert_allclose(local, axes.T @ flame @ axes, atol=1e-6)
    # The rigs the add-on builds (and the FLAME add-on's) have identity axes: bone-local axis-angle = FLAME vector.
    np.testing.assert_allclose(quat_to_axis_angle(curves.rotations["jaw"]), m["pose"][:, 3:], atol=1e-6)


def test_flame_pose_correctives_are_rotation_minus_identity():
    angle = 0.25
    m = {"exp": np.zeros((1, 50)), "pose": np.array([[0, 0, 0, angle, 0, 0]]), "fps": 25.0, "expression_space": "flame"}
    spec = RigSpec("flame", "flame", {}, jaw_bone="jaw", pose_correctives=True)
    keys = motion_to_curves(m, spec, 1, 25.0).shape_keys
    c, s = np.cos(angle), np.sin(angle)
    assert [keys[f"Pose{i}"][0] for i in range(1, 10)] == [0.0] * 9   # the neck stays at rest
    np.testing.assert_allclose([keys[f"Pose{i}"][0] for i in range(10, 19)], [0, 0, 0, 0, c - 1, -s, 0, s, c - 1], atol=1e-12)


def test_joint_drift_offsets_reproduce_moving_joints():
    """Turning about J + d equals turning about J and then offsetting by the keyed location."""
    rng = np.random.default_rng(2)
    m = motion(rng, 5)
    dirs = rng.normal(0, 1e-3, (5, 3, 50))
    spec = RigSpec("flame", "flame", {}, head_bone="root", jaw_bone="jaw", joint_exp_dirs=dirs)
    curves = motion_to_curves(m, spec, 1, 25.0)
    point = np.array([0.01, -0.05, 0.08])
    joint = np.array([0.0, -0.02, 0.0])
    for t in range(5):
        d = dirs[2] @ m["exp"][t]
        rot = rodrigues(m["pose"][t:t + 1, 3:].astype(np.float64))[0]
        about_moved = rot @ (point - joint - d) + joint + d
        about_rest = rot @ (point - joint) + joint + curves.locations["jaw"][t]
        np.testing.assert_allclose(about_rest, about_moved, atol=1e-12)


def test_curves_invert_to_the_motion():
    rng = np.random.default_rng(3)
    axes = random_rotation(rng)
    m = motion(rng, 30, "arkit")
    m["exp"] = np.abs(m["exp"])
    channels = {k: [(f"key{k}", 0.5 + k / 50)] for k in range(50)}
    for spec in (RigSpec("arkit", "arkit", channels, head_bone="head", jaw_bone="jaw", head_axes=axes),
                 RigSpec("arkit", "arkit", channels, jaw_shape_key=("jawOpen", ARKIT_JAW_OPEN_RADIANS))):
        curves = motion_to_curves(m, spec, 10, 30.0)
        np.testing.assert_allclose(curves.frames[:3], [10, 11.2, 12.4])
        back = curves_to_motion(curves, spec, 50, 25.0)
        np.testing.assert_allclose(back["exp"], m["exp"], atol=1e-6)
        if spec.jaw_bone:
            np.testing.assert_allclose(back["pose"], m["pose"], atol=1e-5)
        else:   # an ARKit rig without a jaw bone keeps only the opening, as jawOpen
            np.testing.assert_allclose(curves.shape_keys["jawOpen"], m["pose"][:, 3] / ARKIT_JAW_OPEN_RADIANS, rtol=1e-6)
            np.testing.assert_allclose(back["pose"][:, 3], m["pose"][:, 3], atol=1e-6)


def test_the_channels_read_back_are_those_the_rig_gives_back_as_written():
    """The channels of a frame that a write and a read of the rig bring back; the others
    (keys the rig lacks, the jaw's other axes on a jaw key) come back as something else."""
    rng = np.random.default_rng(5)
    exp, pose = rng.uniform(0.1, 0.9, 50), rng.uniform(0.05, 0.2, 6)
    channels = {0: [("key0", 1.0)], 1: [("key1", 2.0)]}
    exp_read, pose_read = channels_read_back(RigSpec("arkit", "arkit", channels, head_bone="head", jaw_bone="jaw"),
                                             exp, pose, 50)
    assert list(np.flatnonzero(exp_read)) == [0, 1] and pose_read.all()
    keyed_jaw = RigSpec("arkit", "arkit", channels, jaw_shape_key=("jawOpen", ARKIT_JAW_OPEN_RADIANS))
    exp_read, pose_read = channels_read_back(keyed_jaw, exp, pose, 50)
    assert list(pose_read) == [False, False, False, True, False, False], "a jaw key opens about one axis, no head"


def test_space_mismatch_is_refused():
    with pytest.raises(ValueError, match="expression space"):
        motion_to_curves(motion(np.random.default_rng(4)), RigSpec("arkit", "arkit", {}), 1, 25.0)
