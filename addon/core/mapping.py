"""Custom rig mappings written as text: which shape key or bone pose each model channel drives.

One line per channel, ``channel = shape key`` or ``channel = pose: Action`` with an
optional ``* scale`` (the key's value, or the pose's weight, per unit of the channel; for
the jaw channel, per radian of opening). A pose is an Action (or pose asset) on the
armature whose pose at weight 1 is that channel at 1; poses combine additively
(``core.pose_blend``). ``#`` starts a comment. For example::

    mouthClose = MouthClosed
    mouthSmileLeft = Smile_L * 0.8
    jaw = Mouth_Open * 2.5
    browInnerUp = pose: Brows Up

No bpy here: the add-on reads the text from a Text datablock and stores the result with
``rigs.set_custom_mapping``.
"""
from __future__ import annotations

from typing import NamedTuple

from ...backend.expression_spaces import normalize_shape_key_name

POSE_PREFIX = "pose:"


class MappingError(ValueError):
    pass


class Target(NamedTuple):
    """What one channel drives: a shape key, or (``pose``) an Action's pose, times ``scale``."""

    name: str
    scale: float = 1.0
    pose: bool = False


def parse_mapping(text: str, channels) -> dict:
    """{channel: Target} from ``text``; raises MappingError naming the line."""
    known = set(channels)
    mapping = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        channel, sep, target = (part.strip() for part in line.partition("="))
        if not sep or not channel or not target:
            raise MappingError(f"line {number}: write 'channel = shape key' or 'channel = pose: Action' "
                               "(optionally '* scale')")
        if channel not in known:
            raise MappingError(f"line {number}: {channel!r} is not a channel of this expression space")
        if channel in mapping:
            raise MappingError(f"line {number}: {channel!r} is mapped twice")
        name, star, scale_text = (part.strip() for part in target.rpartition("*"))
        if not star:
            name, scale_text = target, ""
        try:
            scale = float(scale_text) if star else 1.0
        except ValueError:
            raise MappingError(f"line {number}: the scale {scale_text!r} is not a number") from None
        pose = name.lower().startswith(POSE_PREFIX)
        if pose:
            name = name[len(POSE_PREFIX):].strip()
        if not name or scale == 0.0:
            raise MappingError(f"line {number}: name a {'pose Action' if pose else 'shape key'} and a scale other than 0")
        mapping[channel] = Target(name, scale, pose)
    if not mapping:
        raise MappingError("the mapping is empty: write one 'channel = shape key' line per channel")
    return mapping


def mapping_template(channels, shape_keys, poses=()) -> str:
    """A text listing every channel, mapped to a shape key of the same name where one exists,
    else to a pose Action named like the channel (prefixes and a "pose" affix ignored)."""
    keys = {name.lower(): name for name in shape_keys}
    actions = {}
    for name in sorted(poses):
        actions.setdefault(_pose_stem(name), name)
    lines = ["# channel = shape key [* scale], or channel = pose: Action [* scale]; lines starting with # are ignored"]
    for channel in channels:
        key, pose = keys.get(channel.lower()), actions.get(channel.lower())
        lines.append(f"{channel} = {key}" if key else f"{channel} = {POSE_PREFIX} {pose}" if pose else f"# {channel} = ")
    return "\n".join(lines) + "\n"


def _pose_stem(action_name: str) -> str:
    """"jawOpen_pose", "Pose.jawOpen", "pose jawOpen" -> "jawopen": the channel an Action is named for."""
    stem = action_name.lower()
    for affix in ("pose", "_", ".", "-", " "):
        stem = stem.removeprefix(affix).removesuffix(affix)
    return normalize_shape_key_name(stem)
