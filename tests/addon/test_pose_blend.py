"""Bone rigs driven through poses, without Blender: the additive combination and its
inverse (reading a posed rig back), the mapping text's pose lines, detection of pose rigs
and their head and jaw bones."""
import numpy as np
import pytest

from backend import expression_spaces as spaces
from backend.rotations import rodrigues
from diffposetalk.addon.core import mapping, pose_blend, rig_math
from diffposetalk.addon.core.pose_blend import BonePose
from diffposetalk.addon.core.rig_detect import RigError, RigFacts, detect_rig, match_shape_keys

SMILE = {"lip.L": BonePose(location=np.array([0.01, 0.0, 0.002]), rotation=np.array([0.0, 0.0, 0.3])),
         "cheek.L": BonePose(scale=np.array([1.1, 1.0, 1.0]))}
FUNNEL = {"lip.L": BonePose(location=np.array([-0.004, 0.003, 0.0]), rotation=np.array([0.2, 0.0, 0.0]))}


def test_a_single_pose_at_weight_one_is_the_pose_and_zero_is_rest():
    tracks = pose_blend.combine({"smile": SMILE}, {"smile": np.array([0.0, 1.0, 0.5])}, 3)
    lip, cheek = tracks["lip.L"], tracks["cheek.L"]
    assert np.allclose(lip.location[0], 0) and np.allclose(lip.rotation[0], 0) and np.allclose(cheek.scale[0], 1)
    assert np.allclose(lip.location[1], SMILE["lip.L"].location) and np.allclose(lip.rotation[1], [0, 0, 0.3])
    assert np.allclose(cheek.scale[2], [1.05, 1, 1])
    assert lip.scale is None and cheek.location is None and cheek.rotation is None, "only keyed channels are driven"


def test_poses_add_up_in_each_bones_local_space():
    w_smile, w_funnel = np.array([0.7, 1.2]), np.array([0.4, -0.5])
    tracks = pose_blend.combine({"smile": SMILE, "funnel": FUNNEL}, {"smile": w_smile, "funnel": w_funnel}, 2)
    lip = tracks["lip.L"]
    expected = w_smile[:, None] * SMILE["lip.L"].location + w_funnel[:, None] * FUNNEL["lip.L"].location
    assert np.allclose(lip.location, expected)
    assert np.allclose(lip.rotation, w_smile[:, None] * [0, 0, 0.3] + w_funnel[:, None] * [0.2, 0, 0])
    swapped = pose_blend.combine({"smile": SMILE, "funnel": FUNNEL}, {"funnel": w_funnel, "smile": w_smile}, 2)
    assert np.allclose(swapped["lip.L"].rotation, lip.rotation), "the order of the poses does not matter"


@pytest.mark.parametrize("order", pose_blend.EULER_ORDERS)
def test_euler_angles_round_trip_in_every_order(order):
    rng = np.random.default_rng(len(order) + ord(order[0]))
    euler = rng.uniform(-1.2, 1.2, (50, 3))
    matrices = pose_blend.euler_to_matrix(euler, order)
    assert np.allclose(pose_blend.matrix_to_euler(matrices, order), euler, atol=1e-9)


def test_xyz_euler_applies_x_first():
    # Blender's XYZ: x turns first, then y, then z (R = Rz Ry Rx).
    m = pose_blend.euler_to_matrix([[0.3, 0.0, 0.0]], "XYZ")[0] @ np.eye(3)
    assert np.allclose(m, rodrigues(np.array([[0.3, 0.0, 0.0]]))[0])
    both = pose_blend.euler_to_matrix([[0.3, 0.2, 0.0]], "XYZ")[0]
    assert np.allclose(both, rodrigues(np.array([[0, 0.2, 0]]))[0] @ rodrigues(np.array([[0.3, 0, 0]]))[0])


@pytest.mark.parametrize("mode", ["QUATERNION", "ZXY", "AXIS_ANGLE"])
def test_rotation_curves_in_the_bones_own_mode_give_the_same_rotation(mode):
    rotvec = np.array([[0.1, -0.2, 0.3], [0.0, 0.0, 0.0], [0.4, 0.1, -0.1]])
    prop, values = rig_math.rotation_curves(rotvec, mode)
    if mode == "QUATERNION":
        assert prop == "rotation_quaternion"
        w, xyz = values[:, 0], values[:, 1:]
        back = 2 * np.arctan2(np.linalg.norm(xyz, axis=1), w)[:, None] * xyz / np.maximum(
            np.linalg.norm(xyz, axis=1), 1e-12)[:, None]
        assert np.allclose(back, rotvec)
    elif mode == "AXIS_ANGLE":
        assert prop == "rotation_axis_angle" and np.allclose(values[:, :1] * values[:, 1:], rotvec)
    else:
        assert prop == "rotation_euler"
        assert np.allclose(pose_blend.euler_to_matrix(values, mode), rodrigues(rotvec))


def test_mapping_text_takes_pose_lines_and_the_template_finds_pose_actions():
    channels = ("mouthSmileLeft", "mouthFunnel", "browInnerUp", "jaw")
    text = "mouthSmileLeft = pose: Smile L * 0.8\nmouthFunnel = Funnel\njaw = POSE:JawOpen * 2\n"
    assert mapping.parse_mapping(text, channels) == {
        "mouthSmileLeft": ("Smile L", 0.8, True), "mouthFunnel": ("Funnel", 1.0, False), "jaw": ("JawOpen", 2.0, True)}
    with pytest.raises(mapping.MappingError, match="line 1: name a pose Action"):
        mapping.parse_mapping("jaw = pose:  * 2", channels)
    template = mapping.mapping_template(channels, ["mouthFunnel"], ["browInnerUp_pose", "Pose.mouthSmileLeft", "Walk"])
    assert "mouthFunnel = mouthFunnel" in template
    assert "browInnerUp = pose: browInnerUp_pose" in template and "mouthSmileLeft = pose: Pose.mouthSmileLeft" in template
    assert "# jaw = " in template and "Walk" not in template
    assert set(mapping.parse_mapping(template, channels)) == {"mouthFunnel", "browInnerUp", "mouthSmileLeft"}


RIGIFY_BONES = ("root", "torso", "neck", "head", "jaw_master", "lip.T.L", "lip.B.L", "brow.T.L")


def _pose_facts(mapped, poses):
    targets = {ch: mapping.Target(name, scale, True) for ch, (name, scale) in mapped.items()}
    return RigFacts("rig", frozenset(), bones=RIGIFY_BONES, poses=poses,
                    mapping={"expression_space": "arkit", "channels": targets},
                    rotation_modes={"lip.T.L": "XYZ", "brow.T.L": "QUATERNION"})


def test_a_pose_rig_drives_its_head_and_jaw_bones_unless_a_pose_moves_them():
    lips = {"lip.T.L": BonePose(rotation=np.array([0.0, 0.0, 0.2]))}
    spec = detect_rig(_pose_facts({"mouthSmileLeft": ("smile", 1.0)}, {"smile": lips}))
    assert (spec.kind, spec.head_bone, spec.jaw_bone) == ("custom", "head", "jaw_master")
    assert spec.pose_channels == {spaces.ARKIT_CHANNELS.index("mouthSmileLeft"): [("smile", 1.0)]}
    assert spec.rotation_modes == {"lip.T.L": "XYZ"} and spec.channels == {}
    jaw_pose = {"jaw_master": BonePose(rotation=np.array([0.3, 0.0, 0.0]))}
    spec = detect_rig(_pose_facts({"mouthClose": ("open", 1.0)}, {"open": jaw_pose}))
    assert spec.jaw_bone is None and spec.head_bone == "head", "the mapping's pose drives the jaw"
    spec = detect_rig(_pose_facts({"jaw": ("open", 2.5)}, {"open": jaw_pose}))
    assert spec.jaw_pose == ("open", 2.5) and spec.jaw_bone is None


def test_a_pose_the_file_lacks_is_refused_by_name():
    with pytest.raises(RigError, match="'Missing' that are not in this file"):
        detect_rig(_pose_facts({"mouthSmileLeft": ("Missing", 1.0)}, {}))


def test_motion_to_curves_combines_the_poses_per_frame_and_keeps_euler_bones_euler():
    lips = {"lip.T.L": BonePose(location=np.array([0.0, 0.01, 0.0]), rotation=np.array([0.0, 0.0, 0.2]))}
    brows = {"brow.T.L": BonePose(rotation=np.array([0.1, 0.0, 0.0])), "lip.T.L": BonePose(rotation=np.array([0.1, 0, 0]))}
    spec = detect_rig(_pose_facts({"mouthSmileLeft": ("smile", 1.0), "browInnerUp": ("brows", 0.5)},
                                  {"smile": lips, "brows": brows}))
    exp = np.zeros((4, 50))
    smile, brow = spaces.ARKIT_CHANNELS.index("mouthSmileLeft"), spaces.ARKIT_CHANNELS.index("browInnerUp")
    exp[:, smile], exp[:, brow] = [0, 0.5, 1, 1], [0, 0, 1, 2]
    pose = np.zeros((4, 6))
    pose[:, 3] = [0, 0.1, 0.2, 0.3]
    curves = rig_math.motion_to_curves({"exp": exp, "pose": pose, "fps": 25.0, "expression_space": "arkit"},
                                       spec, 1, 25.0)
    assert np.allclose(curves.locations["lip.T.L"][:, 1], 0.01 * exp[:, smile])
    prop, euler = curves.other_rotations["lip.T.L"]
    expected = exp[:, smile, None] * [0, 0, 0.2] + 0.5 * exp[:, brow, None] * [0.1, 0, 0]
    assert prop == "rotation_euler" and np.allclose(pose_blend.euler_to_matrix(euler, "XYZ"), rodrigues(expected))
    assert np.allclose(curves.rotations["brow.T.L"][:, 1], np.sin(0.5 * 0.1 * 0.5 * exp[:, brow]))
    assert "jaw_master" in curves.rotations, "the jaw bone follows the model's jaw rotation"
    assert not curves.shape_keys


def test_pose_weights_come_back_from_the_combined_bones():
    w = {"smile": np.array([0.0, 0.7, 1.2, -0.3]), "funnel": np.array([1.0, 0.4, -0.5, 0.2])}
    tracks = pose_blend.combine({"smile": SMILE, "funnel": FUNNEL}, w, 4)
    solved = pose_blend.solve_weights({"smile": SMILE, "funnel": FUNNEL}, tracks, 4)
    assert set(solved) == {"smile", "funnel"}
    for name in w:
        assert np.allclose(solved[name], w[name], atol=1e-12), name
    at_rest = pose_blend.solve_weights({"smile": SMILE}, {}, 2)
    assert np.allclose(at_rest["smile"], 0), "bones without curves are at rest"


def test_rotation_vectors_come_back_from_matrices():
    rotvec = np.array([[0.1, -0.2, 0.3], [0.0, 0.0, 0.0], [1.0, 0.5, -2.0], [0.0, 3.0, 0.0]])
    assert np.allclose(pose_blend.matrix_to_rotation_vector(rodrigues(rotvec)), rotvec, atol=1e-9)


def test_a_pose_rig_reads_back_every_mapped_channel():
    lips = {"lip.T.L": BonePose(location=np.array([0.0, 0.01, 0.0]), rotation=np.array([0.0, 0.0, 0.2]))}
    brows = {"brow.T.L": BonePose(rotation=np.array([0.1, 0.0, 0.0])), "lip.T.L": BonePose(rotation=np.array([0.1, 0, 0]))}
    spec = detect_rig(_pose_facts({"mouthSmileLeft": ("smile", 1.0), "browInnerUp": ("brows", 0.5)},
                                  {"smile": lips, "brows": brows}))
    rng = np.random.default_rng(1)
    exp = np.zeros((6, 50))
    smile, brow = spaces.ARKIT_CHANNELS.index("mouthSmileLeft"), spaces.ARKIT_CHANNELS.index("browInnerUp")
    exp[:, smile], exp[:, brow] = rng.uniform(0, 1, 6), rng.uniform(0, 1.5, 6)
    pose = np.column_stack([rng.normal(0, 0.05, (6, 3)), rng.uniform(0, 0.3, 6), np.zeros((6, 2))])
    motion = {"exp": exp, "pose": pose, "fps": 25.0, "expression_space": "arkit"}
    back = rig_math.curves_to_motion(rig_math.motion_to_curves(motion, spec, 1, 25.0), spec, 50, 25.0)
    assert np.allclose(back["exp"], exp, atol=1e-5), "the mapped channels, the Euler bone's included"
    assert np.allclose(back["pose"], pose, atol=1e-5), "head and jaw from their bones"


def test_shape_keys_are_matched_per_mesh_ignoring_case_and_prefixes():
    assert match_shape_keys(["jawOpen", "mouthClose", "tongueOut"], ["Basis", "JawOpen", "bs_mouthClose"]) == {
        "jawOpen": "JawOpen", "mouthClose": "bs_mouthClose"}
    assert match_shape_keys(["jawOpen", "JAWOPEN"], ["jawOpen"]) == {"jawOpen": "jawOpen"}, "no key written twice"
