"""Which kind of face rig an object is, decided from plain facts about it (no bpy).

``addon.rigs`` gathers the facts from the scene (shape-key names, bone names, what we
stored on rigs we built); ``detect_rig`` turns them into a ``RigSpec``. It accepts, in this
order: a custom mapping stored on the mesh, rigs we built, FLAME add-on rigs
(``Exp1..Exp50`` keys), and any mesh with ARKit-named shape keys (case-insensitive, common
prefixes allowed).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...backend import expression_spaces as spaces
from .rig_math import POSE_CORRECTIVES, RigSpec

JAW_CHANNEL = "jaw"  # a custom mapping's name for the jaw opening
MIN_ARKIT_KEYS = 20  # fewer ARKit-named shape keys than this is not an ARKit rig


class RigError(Exception):
    """The object is not a rig we can animate; the message says what to do."""


@dataclass
class RigFacts:
    """What detection needs to know about the rig an object belongs to."""

    name: str                          # the selected object's name, for messages
    shape_keys: frozenset              # shape-key names of the rig's meshes
    bones: tuple = ()                  # bone names of its armature; empty without one
    built: str | None = None           # "builtin" | "flame" on rigs the add-on built
    mapping: dict | None = None        # {"expression_space", "channels": {channel: (key, scale)}}
    joint_exp_dirs: list | None = None  # stored on FLAME rigs the add-on built (5 * 3 * E values)


def arkit_names(names) -> dict:
    """ARKit blendshape name -> the rig's shape-key name (the first in name order)."""
    wanted = {name.lower(): name for name in spaces.ARKIT_BLENDSHAPES}
    found = {}
    for name in sorted(names):
        normal = spaces.normalize_shape_key_name(name)
        if normal in wanted and wanted[normal] not in found:
            found[wanted[normal]] = name
    return found


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
        space = spaces.get_space(mapping["expression_space"])
        channels = {space.index(ch): [entry] for ch, entry in mapping["channels"].items() if ch != JAW_CHANNEL}
        jaw = mapping["channels"].get(JAW_CHANNEL)
        return RigSpec("custom", space.name, channels, jaw_shape_key=(jaw[0], 1.0 / jaw[1]) if jaw else None,
                       head_bone=find_bone(facts.bones, "head", "root"),
                       jaw_bone=None if jaw else find_bone(facts.bones, "jaw"))
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
        return RigSpec("arkit", "arkit", channels, head_bone=find_bone(facts.bones, "head"),
                       jaw_bone=None if jaw_key else find_bone(facts.bones, "jaw"),
                       jaw_shape_key=(jaw_key, spaces.ARKIT_JAW_OPEN_RADIANS) if jaw_key else None)
    raise RigError(
        f"{facts.name!r} has no FLAME (Exp1..Exp50) or ARKit shape keys: select a head added with "
        "Add Head, a FLAME add-on head, a mesh with ARKit shape keys, or map its shape keys"
    )
