"""Heads: the FLAME loader (no chumpy), skinning maths, the built-in head and the vertices command."""
import argparse
import importlib.util
import sys

import numpy as np
import pytest
import torch

from backend.expression_spaces import ARKIT_BLENDSHAPES, ARKIT_CHANNELS, ARKIT_JAW_OPEN_RADIANS
from backend.heads import load_head
from backend.heads.flame import FlameFileError
from backend.heads.lbs import rodrigues
from flame_fixture import write_flame_file


@pytest.fixture(scope="module")
def builtin():
    return load_head("builtin")


@pytest.fixture(params=["2020", "2023"])
def flame_file(request, tmp_path):
    path = tmp_path / f"flame{request.param}.pkl"
    return path, write_flame_file(path, request.param)


def random_motion(rng, n_frames, n_exp=50, scale=1.0):
    return {
        "exp": rng.uniform(0, scale, (n_frames, n_exp)).astype(np.float32),
        "pose": rng.normal(0, 0.15, (n_frames, 6)).astype(np.float32),
    }


# ---------------------------------------------------------------------- FLAME files

def test_flame_files_load_without_chumpy(flame_file):
    path, truth = flame_file
    assert importlib.util.find_spec("chumpy") is None
    head = load_head(path)
    assert "chumpy" not in sys.modules
    assert head.expression_space == "flame" and (head.n_shape, head.n_exp) == (300, 100)
    np.testing.assert_array_equal(head.template, truth["v_template"])
    np.testing.assert_array_equal(head.expdirs, truth["shapedirs"][:, :, 300:])
    np.testing.assert_array_equal(head.faces, truth["f"])
    np.testing.assert_allclose(head.joint_template, truth["J_regressor"] @ truth["v_template"])
    assert head.parents == (-1, 0, 1, 1, 1)


def test_flame_loader_refuses_foreign_code(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(b"cos\nsystem\n(S'echo hacked'\ntR.")
    with pytest.raises(FlameFileError, match="os.system"):
        load_head(path)
    with pytest.raises(FileNotFoundError, match="download"):
        load_head(tmp_path / "missing.pkl")


def test_flame_lip_landmarks_from_geometry(builtin):
    """FLAME files name no vertices; the lips are found where jaw skinning starts (tried on a real face shape)."""
    from backend.heads.flame import flame_landmarks

    template = builtin.template.copy()
    hidden = np.setdiff1d(np.arange(builtin.n_vertices), builtin.skin_vertices())
    template[hidden] = [0.0, 10.0, -10.0]   # eyes, teeth and mouth interior are not FLAME's
    marks = flame_landmarks(template, builtin.weights, 2)
    for name in ("upper_lip_inner", "lower_lip_inner"):
        assert np.linalg.norm(template[marks[name]] - template[builtin.landmarks[name]]) < 0.004, name


# ---------------------------------------------------------------------- skinning

def test_zero_pose_is_template_plus_blendshapes(flame_file):
    path, truth = flame_file
    head = load_head(path)
    rng = np.random.default_rng(1)
    shape, exp = rng.normal(size=100), rng.normal(size=(2, 50))
    motion = {"exp": exp, "pose": np.zeros((2, 6)), "shape": shape}
    expected = truth["v_template"] + np.einsum("vck,k->vc", truth["shapedirs"][:, :, :100], shape)[None] \
        + np.einsum("vck,tk->tvc", truth["shapedirs"][:, :, 300:350], exp)
    np.testing.assert_allclose(head.vertices(motion), expected, atol=1e-6)
    torch_out = head.torch_module(torch.float64)(torch.tensor(exp), torch.zeros(2, 6, dtype=torch.float64), torch.tensor(shape))
    np.testing.assert_allclose(torch_out.numpy(), expected, atol=1e-9)


def test_known_rotations(builtin):
    # Jaw: vertices fully on the jaw turn about the jaw joint; head: everything turns about the root.
    angle = 0.3
    jaw_only = np.flatnonzero(builtin.weights[:, 2] == 1)
    neck_only = np.flatnonzero(builtin.weights[:, 1] == 1)
    assert len(jaw_only) > 100 and len(neck_only) > 1000
    out = builtin.vertices({"exp": np.zeros((2, 50)), "pose": np.array([[0, 0, 0, angle, 0, 0], [0, angle, 0, 0, 0, 0]])})
    rx, ry = rodrigues(np.array([angle, 0, 0])), rodrigues(np.array([0, angle, 0]))
    jaw_joint, root = builtin.joint_template[2], builtin.joint_template[0]
    np.testing.assert_allclose(out[0, jaw_only], (builtin.template[jaw_only] - jaw_joint) @ rx.T + jaw_joint, atol=1e-6)
    np.testing.assert_allclose(out[1], (builtin.template - root) @ ry.T + root, atol=1e-6)
    # +X opens: the chin goes down and back.
    chin = builtin.landmarks["chin"]
    assert out[0, chin, 1] < builtin.template[chin, 1] - 0.005


def test_pose_correctives_follow_the_jaw(flame_file):
    path, truth = flame_file
    head = load_head(path)
    head.weights = np.zeros_like(head.weights)
    head.weights[:, 0] = 1.0   # skinning off: only the correctives move vertices
    jaw = np.array([0.2, -0.1, 0.05])
    out = head.vertices({"exp": np.zeros((1, 50)), "pose": np.concatenate([[0, 0, 0], jaw])[None]})
    feature = np.concatenate([np.zeros(9), (rodrigues(jaw) - np.eye(3)).ravel(), np.zeros(18)])
    np.testing.assert_allclose(out[0], truth["v_template"] + truth["posedirs"] @ feature, atol=1e-6)


def test_torch_matches_numpy_and_has_gradients(flame_file):
    path, _ = flame_file
    head = load_head(path)
    rng = np.random.default_rng(2)
    motion = random_motion(rng, 5, scale=2.0)
    motion["shape"] = rng.normal(size=100).astype(np.float32)
    expected = head.vertices(motion)
    module = head.torch_module()
    exp = torch.tensor(motion["exp"], requires_grad=True)
    pose = torch.tensor(motion["pose"], requires_grad=True)
    got = module(exp.view(1, 5, 50), pose.view(1, 5, 6), torch.tensor(motion["shape"]))
    assert got.shape == (1, 5, head.n_vertices, 3)
    np.testing.assert_allclose(got[0].detach().numpy(), expected, atol=2e-6)
    got.square().sum().backward()
    assert exp.grad.abs().sum() > 0 and pose.grad.abs().sum() > 0


# ---------------------------------------------------------------------- built-in head

def test_builtin_head_layout(builtin):
    assert builtin.expression_space == "arkit" and builtin.expression_names == ARKIT_CHANNELS
    assert builtin.expdirs.shape == (builtin.n_vertices, 3, 50)
    assert set(builtin.extra_shapes) == {"jawOpen", "tongueOut"}
    assert builtin.joint_names == ("root", "neck", "jaw", "left_eye", "right_eye")
    np.testing.assert_allclose(builtin.weights.sum(1), 1, atol=1e-6)
    extent = builtin.template.max(0) - builtin.template.min(0)
    assert 0.13 < extent[0] < 0.2 and 0.25 < extent[1] < 0.35 and 0.18 < extent[2] < 0.25  # metres
    # every shape moves something, and none by more than a few centimetres
    for k in range(50):
        assert 1e-4 < np.abs(builtin.expdirs[:, :, k]).max() < 0.05, ARKIT_CHANNELS[k]


def test_builtin_jaw_open_shape_is_the_jaw_bone(builtin):
    opened = builtin.vertices({"exp": np.zeros((1, 50)), "pose": np.array([[0, 0, 0, ARKIT_JAW_OPEN_RADIANS, 0, 0]])})[0]
    np.testing.assert_allclose(builtin.template + builtin.extra_shapes["jawOpen"], opened, atol=2e-5)


def test_builtin_landmarks(builtin):
    marks, v = builtin.landmarks, builtin.template
    for name in ("upper_lip_inner", "lower_lip_inner", "mouth_corner_left", "mouth_corner_right", "nose_tip", "chin",
                 "upper_eyelid_left", "lower_eyelid_left", "upper_eyelid_right", "lower_eyelid_right"):
        assert 0 <= marks[name] < builtin.n_vertices, name
    assert v[marks["mouth_corner_left"], 0] > 0.015 > -0.015 > v[marks["mouth_corner_right"], 0]
    assert v[marks["nose_tip"], 2] > v[marks["upper_lip_inner"], 2] > v[marks["chin"], 2] - 0.02
    assert v[marks["upper_eyelid_left"], 1] > v[marks["lower_eyelid_left"], 1]
    # Closed at rest (the inner lips touch); the jaw opens the mouth.
    upper, lower = marks["upper_lip_inner"], marks["lower_lip_inner"]
    assert np.linalg.norm(v[upper] - v[lower]) < 1e-4
    opened = builtin.vertices({"exp": np.zeros((1, 50)), "pose": np.array([[0, 0, 0, 0.25, 0, 0]])})[0]
    assert opened[upper, 1] - opened[lower, 1] > 0.015


@pytest.mark.parametrize("name, landmark, axis, sign", [
    ("eyeBlinkLeft", "upper_eyelid_left", 1, -1),
    ("eyeBlinkRight", "upper_eyelid_right", 1, -1),
    ("mouthSmileLeft", "mouth_corner_left", 1, 1),
    ("mouthSmileRight", "mouth_corner_right", 1, 1),
    ("eyeSquintLeft", "lower_eyelid_left", 1, 1),
    ("browOuterUpRight", "upper_eyelid_right", 1, 1),
    ("mouthLeft", "upper_lip_inner", 0, 1),
    ("mouthRight", "upper_lip_inner", 0, -1),
    ("mouthPucker", "upper_lip_inner", 2, 1),
    ("mouthClose", "lower_lip_inner", 1, 1),
])
def test_shapes_move_the_right_side(builtin, name, landmark, axis, sign):
    """'Left' is the character's left, +X; one-sided shapes leave the other side nearly still."""
    shapes = dict(zip(ARKIT_CHANNELS, np.moveaxis(builtin.expdirs, -1, 0)), **builtin.extra_shapes)
    mark = builtin.landmarks[landmark]
    assert sign * shapes[name][mark, axis] > 0.001
    mirror = landmark.replace("left", "@").replace("right", "left").replace("@", "right")
    if mirror != landmark:
        assert abs(shapes[name][builtin.landmarks[mirror]]).max() < 0.3 * abs(shapes[name][mark, axis])


def test_builtin_build_is_deterministic(tmp_path):
    from scripts.build_builtin_head import DEFAULT_OUT, build, save

    out = tmp_path / "head.npz"
    save(build(), out)
    assert out.stat().st_size < 2e6
    with np.load(out) as fresh, np.load(DEFAULT_OUT) as stored:
        assert sorted(fresh.files) == sorted(stored.files)
        for key in fresh.files:
            np.testing.assert_array_equal(fresh[key], stored[key], err_msg=key)
    assert len(ARKIT_BLENDSHAPES) == 52


# ---------------------------------------------------------------------- vertices command

def test_vertices_command(tmp_path, builtin):
    from backend.cli import vertices

    rng = np.random.default_rng(3)
    motion = random_motion(rng, 4)
    np.savez(tmp_path / "m.npz", **motion, fps=25.0, expression_space="arkit")
    parser = argparse.ArgumentParser()
    vertices.add_arguments(parser)
    args = parser.parse_args(["--motion", str(tmp_path / "m.npz"), "--out", str(tmp_path / "v.npz")])
    assert vertices.run(args) == 0
    with np.load(tmp_path / "v.npz") as out:
        assert out["vertices"].shape == (4, builtin.n_vertices, 3) and out["vertices"].dtype == np.float32
        np.testing.assert_allclose(out["vertices"], builtin.vertices(motion), atol=1e-6)
        np.testing.assert_array_equal(out["faces"], builtin.faces)
        marks = dict(zip(out["landmark_names"].tolist(), out["landmark_indices"].tolist()))
        assert marks == builtin.landmarks
    np.savez(tmp_path / "flame.npz", **motion, expression_space="flame")
    args = parser.parse_args(["--motion", str(tmp_path / "flame.npz"), "--out", str(tmp_path / "w.npz")])
    with pytest.raises(SystemExit, match="--head"):
        vertices.run(args)
