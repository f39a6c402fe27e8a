"""Motion maths and files: quaternion round trips, slerp resampling, head scale, atomic writes."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from backend import motion_io
from backend.atomic_files import write_all_atomically, write_atomically


def motion(frames=50, fps=25.0, seed=0):
    rng = np.random.default_rng(seed)
    return {"exp": rng.normal(size=(frames, 50)).astype(np.float32),
            "pose": (rng.normal(size=(frames, 6)) * 0.3).astype(np.float32),
            "fps": fps, "expression_space": "flame"}


def rotation_matrix(v):
    angle = np.linalg.norm(v)
    if angle < 1e-12:
        return np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]]) / angle
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def test_axis_angle_quaternion_round_trip():
    v = np.random.default_rng(0).normal(size=(200, 3))
    v *= (np.random.default_rng(1).uniform(0, 3.0, size=(200, 1)) / np.linalg.norm(v, axis=1, keepdims=True))
    np.testing.assert_allclose(motion_io.quat_to_axis_angle(motion_io.axis_angle_to_quat(v)), v, atol=1e-9)
    tiny = v * 1e-10
    np.testing.assert_allclose(motion_io.quat_to_axis_angle(motion_io.axis_angle_to_quat(tiny)), tiny, atol=1e-18)


@pytest.mark.parametrize("fps", [23.976, 24, 25, 29.97, 30, 50, 60])
def test_resampling_follows_time_at_blender_rates(fps):
    frames = 75
    t_in = np.arange(frames) / 25.0
    m = motion(frames)
    m["exp"][:, 0] = 2 * t_in  # linear: resampled exactly
    axis = np.array([0.6, 0.8, 0.0])
    m["pose"][:, :3] = (0.4 * t_in)[:, None] * axis  # constant-speed rotation about a fixed axis
    out = motion_io.resample_motion(m, fps)
    n = round(frames * fps / 25)
    assert out["exp"].shape == (n, 50) and out["pose"].shape == (n, 6) and out["fps"] == fps
    t_out = np.minimum(np.arange(n) / fps, t_in[-1])
    np.testing.assert_allclose(out["exp"][:, 0], 2 * t_out, atol=1e-5)
    np.testing.assert_allclose(out["pose"][:, :3], (0.4 * t_out)[:, None] * axis, atol=1e-5)


def test_rotations_are_slerped_not_lerped():
    # Halfway between +170 and -170 degrees about z is 180 degrees, not 0 (what lerp gives).
    m = motion(2, fps=1.0)
    m["pose"][:] = 0
    m["pose"][0, 2], m["pose"][1, 2] = np.radians(170), np.radians(-170)
    out = motion_io.resample_motion(m, 2.0)
    middle = out["pose"][1, :3]
    assert np.degrees(np.linalg.norm(middle)) == pytest.approx(180.0, abs=1e-3)
    assert np.allclose(rotation_matrix(middle), rotation_matrix(np.array([0, 0, np.pi])), atol=1e-6)


def test_head_motion_scale_about_the_mean():
    m = motion(100)
    head = m["pose"][:, :3]
    still = motion_io.scale_head_motion(m["pose"], 0.0)
    assert np.abs(still[:, :3] - still[0, :3]).max() < 1e-6
    np.testing.assert_array_equal(still[:, 3:], m["pose"][:, 3:])  # jaw untouched
    same = motion_io.scale_head_motion(m["pose"], 1.0)
    np.testing.assert_allclose(same, m["pose"])
    double = motion_io.scale_head_motion(m["pose"], 2.0)
    mean = still[0, :3]

    def spread(h):
        return np.mean([np.linalg.norm(rotation_matrix(x) - rotation_matrix(mean)) for x in h])

    assert spread(double[:, :3]) > 1.5 * spread(head)
    half = motion_io.scale_head_motion(m["pose"], 0.5)
    assert spread(half[:, :3]) < 0.7 * spread(head)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "out" / "m.npz"
    motion_io.save_motion(path, motion(), {"seed": 1})
    loaded = motion_io.load_motion(path)
    assert loaded["exp"].shape == (50, 50) and loaded["fps"] == 25.0
    assert [p.name for p in path.parent.iterdir()] == ["m.npz"]


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(b"old")

    def broken(f):
        f.write(b"half a file")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomically(path, broken)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_load_motion_checks(tmp_path):
    np.savez(tmp_path / "nopose.npz", exp=np.zeros((3, 50)))
    np.savez(tmp_path / "wide.npz", exp=np.zeros((3, 52)), pose=np.zeros((3, 6)))
    np.savez(tmp_path / "nan.npz", exp=np.full((3, 50), np.nan), pose=np.zeros((3, 6)))
    (tmp_path / "junk.npz").write_text("junk")
    for name in ("nopose", "wide", "nan", "junk", "missing"):
        with pytest.raises(motion_io.MotionFileError):
            motion_io.load_motion(tmp_path / f"{name}.npz")
    # the reference demo's files have no fps or space: FLAME at 25 fps
    np.savez(tmp_path / "ref.npz", exp=np.zeros((3, 50)), pose=np.zeros((3, 6)), shape=np.zeros(100))
    ref = motion_io.load_motion(tmp_path / "ref.npz")
    assert ref["fps"] == 25.0 and ref["expression_space"] == "flame"


def test_a_set_of_files_is_written_whole_or_not_at_all(tmp_path):
    paths = [tmp_path / f"take_{k}.npz" for k in (1, 2, 3)]
    paths[2].write_bytes(b"previous take 3")

    def full_disk(f):
        f.write(b"the start of take 2")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_all_atomically([(paths[0], lambda f: f.write(b"take 1")), (paths[1], full_disk),
                                        (paths[2], lambda f: f.write(b"take 3"))])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take_3.npz"]
    assert paths[2].read_bytes() == b"previous take 3"
    motion_io.save_motions([(path, motion(seed=k), {"variation": k}) for k, path in enumerate(paths)])
    assert [motion_io.load_motion(p)["exp"][0, 0] for p in paths] == [motion(seed=k)["exp"][0, 0] for k in range(3)]


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_written_files_get_the_usual_permissions(tmp_path, umask):
    previous = os.umask(umask)
    try:
        motion_io.save_motion(tmp_path / "m.npz", motion())
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "m.npz").stat().st_mode) == 0o666 & ~umask
