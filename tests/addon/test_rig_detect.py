"""Rig detection and the take's state, without Blender (the add-on's ``core``)."""
import numpy as np
import pytest

from backend import expression_spaces as spaces
from diffposetalk.addon.core.mapping import Target
from diffposetalk.addon.core.rig_detect import RigError, RigFacts, detect_rig
from diffposetalk.addon.core.rig_math import POSE_CORRECTIVES
from diffposetalk.addon.core.takes import Takes

FLAME_KEYS = frozenset(["Basis", *spaces.FLAME_CHANNELS])


def test_flame_add_on_rig_by_its_exp_keys():
    spec = detect_rig(RigFacts("FLAME-female", FLAME_KEYS | set(POSE_CORRECTIVES), bones=("root", "neck", "Jaw")))
    assert (spec.kind, spec.expression_space) == ("flame", "flame")
    assert spec.channels[0] == [("Exp1", 1.0)] and len(spec.channels) == spaces.EXPRESSION_DIM
    assert (spec.head_bone, spec.jaw_bone, spec.pose_correctives) == ("root", "Jaw", True)


def test_flame_rig_we_built_carries_its_joint_offsets():
    dirs = list(np.arange(5 * 3 * 2, dtype=float))
    spec = detect_rig(RigFacts("FLAME-x", FLAME_KEYS, built="flame", joint_exp_dirs=dirs))
    assert spec.joint_exp_dirs.shape == (5, 3, 2) and not spec.pose_correctives


def test_arkit_keys_with_a_prefix_and_any_case():
    keys = frozenset(["Basis"] + [f"ARKit_{name.upper()}" for name in spaces.ARKIT_BLENDSHAPES])
    spec = detect_rig(RigFacts("Face", keys, bones=("Head", "jaw")))
    assert spec.kind == "arkit" and spec.head_bone == "Head"
    assert spec.jaw_bone is None, "a jawOpen key takes the jaw opening"
    assert spec.jaw_shape_key == ("ARKit_JAWOPEN", spaces.ARKIT_JAW_OPEN_RADIANS)
    assert spec.channels[spaces.ARKIT_CHANNELS.index("mouthClose")] == [("ARKit_MOUTHCLOSE", 1.0)]


def test_too_few_arkit_keys_is_no_rig():
    keys = frozenset(["Basis", *spaces.ARKIT_BLENDSHAPES[:5]])
    with pytest.raises(RigError, match="'Blob' has no FLAME"):
        detect_rig(RigFacts("Blob", keys))


def test_a_custom_mapping_wins_over_the_key_names():
    mapping = {"expression_space": "arkit", "channels": {"mouthClose": Target("Shut", 0.5), "jaw": Target("Open", 2.0)}}
    spec = detect_rig(RigFacts("Blob", FLAME_KEYS, bones=("jaw",), mapping=mapping))
    assert spec.kind == "custom" and spec.expression_space == "arkit"
    assert spec.channels == {spaces.ARKIT_CHANNELS.index("mouthClose"): [("Shut", 0.5)]}
    assert spec.jaw_shape_key == ("Open", 0.5) and spec.jaw_bone is None


def test_built_in_head_by_its_mark():
    spec = detect_rig(RigFacts("Head", frozenset(["Basis", "jawOpen"]), built="builtin"))
    assert (spec.kind, spec.head_bone, spec.jaw_bone) == ("builtin", "root", "jaw")


def test_takes_keep_the_variations_of_one_job():
    takes = Takes()
    assert takes.count == 0
    takes.replace([{"k": 0}, {"k": 1}], scene="Scene", rig="Head", frame_start=11, fps=30, action_name="a",
                  request={"seed": 1})
    assert (takes.count, takes.shown, takes.frame_start, takes.motion(1)) == (2, 0, 11.0, {"k": 1})
    with pytest.raises(IndexError, match="no variation 3"):
        takes.motion(2)
    takes.shown = 1
    takes.clear()
    assert (takes.count, takes.shown) == (0, 0)
