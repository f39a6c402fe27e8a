"""Custom rig mappings written as text: which shape key each model channel drives.

One line per channel, ``channel = shape key`` with an optional ``* scale`` (the key's
value per unit of the channel; for the jaw channel, per radian of opening). ``#`` starts
a comment. For example::

    mouthClose = MouthClosed
    mouthSmileLeft = Smile_L * 0.8
    jaw = Mouth_Open * 2.5

No bpy here: the add-on reads the text from a Text datablock and stores the result with
``rigs.set_custom_mapping``.
"""
from __future__ import annotations


class MappingError(ValueError):
    pass


def parse_mapping(text: str, channels) -> dict:
    """{channel: (shape key, scale)} from ``text``; raises MappingError naming the line."""
    known = set(channels)
    mapping = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        channel, sep, target = (part.strip() for part in line.partition("="))
        if not sep or not channel or not target:
            raise MappingError(f"line {number}: write 'channel = shape key' (optionally '* scale')")
        if channel not in known:
            raise MappingError(f"line {number}: {channel!r} is not a channel of this expression space")
        if channel in mapping:
            raise MappingError(f"line {number}: {channel!r} is mapped twice")
        key, star, scale_text = (part.strip() for part in target.rpartition("*"))
        if not star:
            key, scale_text = target, ""
        try:
            scale = float(scale_text) if star else 1.0
        except ValueError:
            raise MappingError(f"line {number}: the scale {scale_text!r} is not a number") from None
        if not key or scale == 0.0:
            raise MappingError(f"line {number}: name a shape key and a scale other than 0")
        mapping[channel] = (key, scale)
    if not mapping:
        raise MappingError("the mapping is empty: write one 'channel = shape key' line per channel")
    return mapping


def mapping_template(channels, shape_keys) -> str:
    """A text listing every channel, mapped to a shape key of the same name where one exists."""
    lowered = {name.lower(): name for name in shape_keys}
    lines = ["# channel = shape key [* scale]; lines starting with # are ignored"]
    for channel in channels:
        match = lowered.get(channel.lower())
        lines.append(f"{channel} = {match}" if match else f"# {channel} = ")
    return "\n".join(lines) + "\n"
