"""Expression spaces: what the model's expression channels mean on a rig.

Pure data and the standard library only: Blender's Python imports this module too
(through the add-on), and the backend's own packages (torch and the rest) are not there.

Every model predicts, per frame at 25 fps, ``EXPRESSION_DIM`` expression values, the jaw
opening and the head rotation. A checkpoint declares which space its expression values
live in; the add-on reads channel names from here and nowhere else.

Pose convention (datasets, motion files, generated output): ``pose`` is (T, 6) with the
head (global) rotation as an axis-angle vector in the first three values and the jaw
rotation as an axis-angle vector in the last three. Rotations are in FLAME's frame:
Y up, face toward +Z, metres. Blender is Z up, face toward -Y: a FLAME vector
(x, y, z) is (x, -z, y) in Blender's world frame (``addon/core/rig_math.FLAME_TO_BLENDER``).
"""
from __future__ import annotations

from dataclasses import dataclass

EXPRESSION_DIM = 50

# Apple ARKit's 52 face blendshapes in Apple's documented order.
ARKIT_BLENDSHAPES = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)

# The jaw is the model's separate jaw channel and the tongue is not modelled, so the
# ARKit expression space is the other 50 shapes, in Apple's order.
ARKIT_CHANNELS = tuple(name for name in ARKIT_BLENDSHAPES if name not in ("jawOpen", "tongueOut"))

# Live Link Face's jawOpen = 1 corresponds to this jaw rotation (radians about +X, the
# opening direction) on the built-in head; importers and the rig writer use it to move
# between the blendshape value and the jaw channel.
ARKIT_JAW_OPEN_RADIANS = 0.35

FLAME_CHANNELS = tuple(f"Exp{i + 1}" for i in range(EXPRESSION_DIM))

# Prefixes that rigs put before ARKit shape-key names (Character Creator, VRoid exports,
# Faceit, Ready Player Me variants); matching is case-insensitive after stripping them.
ARKIT_NAME_PREFIXES = ("", "arkit_", "arkit.", "blendshape.", "blendshape1.", "bs_", "a_", "face.")


@dataclass(frozen=True)
class ExpressionSpace:
    """How one space's expression values map onto a rig.

    ``channels`` are shape-key names, in model order. ``value_range`` is the range the
    values are meant to stay in (FLAME coefficients are unbounded in principle; the range
    given is the slider range the add-on widens shape keys to). ``jaw_bone`` and
    ``head_bone`` name the bones that receive the jaw and head rotations on the rigs this
    space was made for; ``pose_correctives`` says whether FLAME pose-corrective shape keys
    (``Pose1..``) accompany the bones.
    """

    name: str
    channels: tuple
    value_range: tuple
    jaw_bone: str
    head_bone: str
    pose_correctives: bool
    description: str

    @property
    def dim(self) -> int:
        return len(self.channels)

    def index(self, channel: str) -> int:
        return self.channels.index(channel)


FLAME = ExpressionSpace(
    name="flame",
    channels=FLAME_CHANNELS,
    value_range=(-10.0, 10.0),
    jaw_bone="jaw",
    head_bone="root",
    pose_correctives=True,
    description="FLAME 2020 expression coefficients (released DiffPoseTalk models); "
    "shape keys Exp1..Exp50 as the FLAME Blender add-on names them.",
)

ARKIT = ExpressionSpace(
    name="arkit",
    channels=ARKIT_CHANNELS,
    value_range=(0.0, 1.0),
    jaw_bone="jaw",
    head_bone="root",
    pose_correctives=False,
    description="The 52 ARKit face blendshapes without jawOpen (the jaw channel) and "
    "tongueOut, in Apple's order, values 0..1.",
)

SPACES = {space.name: space for space in (FLAME, ARKIT)}


class UnknownExpressionSpace(ValueError):
    pass


def get_space(name: str) -> ExpressionSpace:
    try:
        return SPACES[name]
    except KeyError:
        raise UnknownExpressionSpace(
            f"unknown expression space {name!r}; known spaces are {', '.join(sorted(SPACES))}"
        ) from None


def normalize_shape_key_name(name: str) -> str:
    """Lower-case ``name`` and strip one known ARKit prefix, for rig detection."""
    lowered = name.lower()
    for prefix in sorted(ARKIT_NAME_PREFIXES, key=len, reverse=True):
        if prefix and lowered.startswith(prefix):
            return lowered[len(prefix):]
    return lowered
