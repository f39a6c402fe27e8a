"""Which kind of face rig an object is, decided from plain facts about it (no bpy).

``addon.rigs`` gathers the facts from the scene (shape-key names, bone names, what we
stored on rigs we built); ``detect_rig`` turns them into a ``RigSpec``. It accepts, in this
order: a custom mapping stored on the mesh or armature (shape keys and/or bone poses), rigs
we built, FLAME add-on rigs (``Exp1..Exp50`` keys), and any mesh with ARKit-named shape
keys (case-insensitive, common prefixes allowed). Head and jaw bones are found by the names
FLAME, Rigify and Auto-Rig Pro give them, and driven from the model's head and jaw
rotation unless a mapped pose moves them already (then the mapping decides).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...backend import expression_spaces as spaces
from .rig_math import POSE_CORRECTIVES, RigSpec

JAW_CHANNEL = "jaw"  # a custom mapping's name for the jaw opening
MIN_ARKIT_KEYS = 20  # fewer ARKit-named shape keys than this is not an ARKit rig
# Bone names (lower case), first match wins: ours and FLAME's, Rigify's, Auto-Rig Pro's.
HEAD_BONES = ("head", "c_head.x", "head.x")
JAW_BONES = ("jaw", "jaw_master", "c_jawbone.x", "jawbone.x")


class RigError(Exception):
    """The object is not a rig we can animate; the message says what to do."""


@dataclass
class RigFacts:
    """What detection needs to know about the rig an object belongs to."""

    name: str                          # the selected object's name, for messages
    shape_keys: frozenset              # shape-key names of the rig's meshes
    bones: tuple = ()                  # bone names of its armature; empty without one
    built: str | None = None           # "builtin" | "flame" on rigs the add-on built
    mapping: dict | None = None        # {"expression_space", "channels": {channel: mapping.Target}}
    joint_exp_dirs: list | None = None  # stored on FLAME rigs the add-on built (5 * 3 * E values)
    poses: dict = field(default_factory=dict)  # the mapping's poses found: {name: {bone: BonePose}}
    rotation_modes: dict = field(default_factory=dict)  # {bone: rotation mode} of the armature's pose bones


def arkit_names(names) -> dict:
    """ARKit blendshape name -> the rig's shape-key name (the first in name order)."""
    wanted = {name.lower(): name for name in spaces.ARKIT_BLENDSHAPES}
    found = {}
    for name in sorted(names):
        normal = spaces.normalize_shape_key_name(name)
        if normal in wanted and wanted[normal] not in found:
            found[wanted[normal]] = name
    return found


def match_shape_keys(wanted, names) -> dict:
    """{wanted name: the name of a key among ``names``}: the same name, else the first (in name
    order) that is equal ignoring case and the common ARKit prefixes; wanted names without a
    match are left out, and no key is matched twice."""
    present = set(names)
    normal = {}
    for name in sorted(names):
        normal.setdefault(spaces.normalize_shape_key_name(name), name)
    matched = {}
    for name in wanted:
        key = name if name in present else normal.get(spaces.normalize_shape_key_name(name))
        if key is not None and key not in matched.values():
            matched[name] = key
    return matched


def find_bone(bones, *names) -> str | None:
    """The first of ``names`` (lower case) among ``bones``, matched case-insensitively."""
    lowered = {bone.lower(): bone for bone in bones}
    return next((lowered[n] for n in names if n in lowered), None)


def detect_rig(facts: RigFacts) -> RigSpec:
    """The rig's ``RigSpec`` (bone axes left at identity); raises RigError if no kind fits."""
    names = facts.shape_keys
    mapping = facts.mapping
    arkit = arkit_names(names)
    if mapping is not None:
        return _mapped_rig(facts)
    if facts.built == "flame" or all(f"Exp{k + 1}" in names for k in range(spaces.EXPRESSION_DIM)):
        channels = {k: [(name, 1.0)] for k, name in enumerate(spaces.FLAME_CHANNELS)}
        spec = RigSpec("flame", "flame", channels, head_bone=find_bone(facts.bones, "root"),
                       jaw_bone=find_bone(facts.bones, "jaw"),
                       pose_correctives=all(name in names for name in POSE_CORRECTIVES))
        if facts.joint_exp_dirs is not None:
            spec.joint_exp_dirs = np.asarray(facts.joint_exp_dirs, np.float64).reshape(5, 3, -1)
        return spec
    if facts.built == "builtin" or len(arkit) >= MIN_ARKIT_KEYS:
        channels = {k: [(arkit[name], 1.0)] for k, name in enumerate(spaces.ARKIT_CHANNELS) if name in arkit}
        if facts.built == "builtin":
            return RigSpec("builtin", "arkit", channels, head_bone="root", jaw_bone="jaw")
        jaw_key = arkit.get("jawOpen")
        return RigSpec("arkit", "arkit", channels, head_bone=find_bone(facts.bones, *HEAD_BONES),
                       jaw_bone=None if jaw_key else find_bone(facts.bones, *JAW_BONES),
                       jaw_shape_key=(jaw_key, spaces.ARKIT_JAW_OPEN_RADIANS) if jaw_key else None)
    raise RigError(
        f"{facts.name!r} has no FLAME (Exp1..Exp50) or ARKit shape keys: select a head added with "
        "Add Head, a FLAME add-on head, a mesh with ARKit shape keys, or map its shape keys or bone poses "
        "(Rig > Custom Mapping)"
    )


def _mapped_rig(facts: RigFacts) -> RigSpec:
    """A custom mapping's rig: shape keys and poses as mapped, head and jaw bones where free."""
    space = spaces.get_space(facts.mapping["expression_space"])
    targets = facts.mapping["channels"]
    missing = sorted({t.name for t in targets.values() if t.pose and t.name not in facts.poses})
    if missing:
        raise RigError(f"The mapping of {facts.name!r} names pose Action(s) {', '.join(map(repr, missing))} that are "
                       "not in this file or key none of its armature's bones: create them, or fix the mapping text")
    channels, pose_channels = {}, {}
    for channel, target in targets.items():
        if channel != JAW_CHANNEL:
            (pose_channels if target.pose else channels)[space.index(channel)] = [(target.name, target.scale)]
    jaw = targets.get(JAW_CHANNEL)
    used = {t.name for t in targets.values() if t.pose}
    posed = {bone for name in used for bone in facts.poses[name]}
    free = [bone for bone in facts.bones if bone not in posed]
    return RigSpec(
        "custom", space.name, channels,
        head_bone=find_bone(free, *HEAD_BONES, "root"),
        jaw_bone=None if jaw else find_bone(free, *JAW_BONES),
        jaw_shape_key=(jaw.name, 1.0 / jaw.scale) if jaw and not jaw.pose else None,
        pose_channels=pose_channels,
        jaw_pose=(jaw.name, jaw.scale) if jaw and jaw.pose else None,
        poses={name: facts.poses[name] for name in used},
        rotation_modes={bone: facts.rotation_modes.get(bone, "QUATERNION") for bone in posed},
    )
