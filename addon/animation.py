"""Write a motion onto a rig as new Actions, and read a rig's animation back as a motion.

``write_motion`` never overwrites an artist's animation: an Action that is not ours is
pushed down onto the NLA (where it keeps playing under ours) before a new Action is
assigned; an Action we wrote before (marked with ``OURS_PROP``) is replaced, or with
``keep_previous`` kept in the file (a fake user) for going back to it. With an
``NlaLayer`` the take goes onto the NLA instead, as a strip on a track of its own with
blend in/out (so takes, variations and hand animation layer and mix): the active Action,
whoever made it, is pushed down first, a new take gets a new track on top, and a variation
or a regenerated range of the same take replaces the strip on its track (keeping the
strip's blend settings, which the animator may have changed). Keys are one per
frame (linear), or with ``tolerance`` the fewest Bezier keys within it per curve
(``core.key_reduction``), for animators to edit. Shape-key curves go to the Key datablock
of every mesh of the character that has the shape key, bone curves to the armature object
(an override's own data for linked characters). Blender 4.4+ gets slotted Actions (layer,
keyframe strip, channelbag), 4.2 the legacy fcurves. Keys go in with
``keyframe_points.add`` + ``foreach_set``: a ten-minute take writes in well under a second.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np

from ..backend.expression_spaces import EXPRESSION_DIM
from ..backend.timebase import FPS
from .core import key_reduction, rig_math
from .core.rig_detect import match_shape_keys
from .rigs import RigError, action_curves, rig_objects, rig_spec

OURS_PROP = "diffposetalk_take"
SLOTTED = "slots" in bpy.types.Action.bl_rna.properties
_INTERPOLATION = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items
LINEAR = _INTERPOLATION["LINEAR"].value
BEZIER = _INTERPOLATION["BEZIER"].value
ALIGNED = bpy.types.Keyframe.bl_rna.properties["handle_left_type"].enum_items["ALIGNED"].value


@dataclass
class WriteResult:
    action_name: str
    actions: list = field(default_factory=list)   # names of the Actions written
    pushed_down: list = field(default_factory=list)   # names of Actions moved onto the NLA
    frame_start: float = 0.0
    frame_end: float = 0.0
    keys: int = 0             # keys written, all curves
    frame_keys: int = 0       # what one key per frame on every curve would have been
    max_error: float = 0.0    # largest difference of a reduced curve from the motion at a frame
    mesh_keys: dict = field(default_factory=dict)   # mesh name -> the shape keys written on it


@dataclass
class NlaLayer:
    """Write a take as NLA strips: ``take`` identifies it (its strips are replaced by its
    variations; other takes' tracks stay), blend in/out in scene frames."""

    take: str
    blend_in: float = 0.0
    blend_out: float = 0.0


# What a replaced strip hands on to its successor: what the animator may have set in the NLA
# editor. Auto blend first: turning it off clears blend in and out.
_STRIP_SETTINGS = ("use_auto_blend", "blend_in", "blend_out", "blend_type", "extrapolation", "influence", "mute")


def _key_path(name):
    return f'key_blocks["{bpy.utils.escape_identifier(name)}"].value'


def _bone_path(bone, prop):
    return f'pose.bones["{bpy.utils.escape_identifier(bone)}"].{prop}'


def _fcurve_collection(action, slot):
    """Where new fcurves go: the slot's channelbag (4.4+) or the Action itself (4.2)."""
    if not SLOTTED:
        return action.fcurves
    layer = action.layers[0] if action.layers else action.layers.new("Layer")
    strip = layer.strips[0] if layer.strips else layer.strips.new(type="KEYFRAME")
    return strip.channelbag(slot, ensure=True).fcurves


def _existing_fcurves(id_block):
    """{(data_path, index): fcurve} of ``id_block``'s active Action (its own slot on 4.4+), or
    when it has none, of the topmost NLA strip of ours (a take written as a strip)."""
    ad = id_block.animation_data
    if ad is None:
        return {}
    if ad.action is not None:
        if SLOTTED and ad.action_slot is None:
            return {}
        curves = action_curves(ad.action, ad.action_slot if SLOTTED else None)
    else:
        strip = next((strip for track in reversed(ad.nla_tracks) for strip in track.strips
                      if strip.action is not None and strip.action.get(OURS_PROP)), None)
        if strip is None:
            return {}
        curves = action_curves(strip.action, strip.action_slot if SLOTTED else None)
    return {(fc.data_path, fc.array_index): fc for fc in curves}


def _retire(action, keep_previous):
    """An Action of ours that is no longer shown: kept in the file (a fake user) or removed
    when nothing else uses it."""
    if keep_previous:
        action.use_fake_user = True
    elif action.users == 0:
        bpy.data.actions.remove(action)


def _push_down(ad):
    """Move the active Action onto a new NLA track (where it keeps playing); returns its name."""
    previous = ad.action
    previous_slot = ad.action_slot if SLOTTED else None
    track = ad.nla_tracks.new()
    track.name = previous.name
    strip = track.strips.new(previous.name, int(previous.frame_range[0]), previous)
    if SLOTTED and previous_slot is not None and strip.action_slot != previous_slot:
        strip.action_slot = previous_slot
    ad.action = None
    return previous.name


def _make_room(id_block, keep_previous, layer):
    """Detach what a new take replaces on ``id_block``: (the name of an Action pushed onto the
    NLA or None, the NLA track of the take being replaced or None, that strip's settings)."""
    ad = id_block.animation_data or id_block.animation_data_create()
    pushed = None
    if ad.action is not None:
        if ad.action.get(OURS_PROP) and layer is None:
            previous = ad.action
            ad.action = None
            _retire(previous, keep_previous)
        else:
            pushed = _push_down(ad)
    if layer is not None:
        for track in ad.nla_tracks:
            for strip in track.strips:
                if strip.action is not None and strip.action.get(OURS_PROP) == layer.take:
                    settings = {name: getattr(strip, name) for name in _STRIP_SETTINGS}
                    previous = strip.action
                    track.strips.remove(strip)
                    _retire(previous, keep_previous)
                    return pushed, track, settings
    return pushed, None, None


def _new_action(id_block, name, layer):
    """A fresh Action of ours for ``id_block`` (and its slot on 4.4+), not yet assigned."""
    action = bpy.data.actions.new(name)
    action[OURS_PROP] = layer.take if layer is not None else True
    if SLOTTED:
        return action, action.slots.new(id_type=id_block.id_type, name=id_block.name)
    action.id_root = id_block.id_type
    return action, None


def _place(id_block, action, slot, layer, track, settings):
    """Show the written ``action``: as the active Action, or as a strip (on the replaced
    take's track, else on a new track on top) with blend in/out."""
    ad = id_block.animation_data
    if layer is None:
        ad.action = action
        if SLOTTED:
            ad.action_slot = slot
        return
    if track is None:
        track = ad.nla_tracks.new()   # a new track goes on top
        track.name = action.name
    strip = track.strips.new(action.name, int(round(action.frame_range[0])), action)
    if SLOTTED and strip.action_slot != slot:
        strip.action_slot = slot
    if settings is None:
        # The take plays over its own frames only, fading in from and out to what lies below.
        half = (strip.frame_end - strip.frame_start) / 2
        settings = {"blend_in": min(layer.blend_in, half), "blend_out": min(layer.blend_out, half),
                    "blend_type": "REPLACE", "extrapolation": "NOTHING"}
    for name, value in settings.items():
        setattr(strip, name, value)


def _write_curve(fcurves, path, index, frames, values, result, group=None, tolerance=None):
    """One curve: a key per frame, or the reduced Bezier keys within ``tolerance``."""
    if SLOTTED:
        fc = fcurves.new(path, index=index)
    else:
        fc = fcurves.new(path, index=index, action_group=group or "")
    points = fc.keyframe_points
    result.frame_keys += len(frames)
    if tolerance is None:
        n = len(frames)
        points.add(n)
        points.foreach_set("co", np.column_stack([frames, values]).astype(np.float32).ravel())
        points.foreach_set("interpolation", np.full(n, LINEAR, np.int32))
    else:
        reduced = key_reduction.reduce_keys(frames, values, tolerance)
        n = len(reduced.keys)
        points.add(n)
        points.foreach_set("co", reduced.co.astype(np.float32).ravel())
        points.foreach_set("interpolation", np.full(n, BEZIER, np.int32))
        for side, handles in (("left", reduced.handle_left), ("right", reduced.handle_right)):
            points.foreach_set(f"handle_{side}_type", np.full(n, ALIGNED, np.int32))
            points.foreach_set(f"handle_{side}", handles.astype(np.float32).ravel())
        result.max_error = max(result.max_error, reduced.max_error)
    result.keys += n
    # Keys are already sorted, so only the handles need computing (cheaper than update());
    # aligned handles that are aligned already stay where they are.
    if hasattr(points, "handles_recalc"):
        points.handles_recalc()
    else:
        fc.update()


def _widen_slider(block, values):
    low, high = float(np.min(values)), float(np.max(values))
    if low < block.slider_min:
        block.slider_min = max(-10.0, np.floor(low))
    if high > block.slider_max:
        block.slider_max = min(10.0, np.ceil(high))


def write_motion(rig, motion: dict, frame_start: float, scene_fps: float, action_name: str,
                 keep_previous: bool = False, tolerance: float | None = None,
                 layer: NlaLayer | None = None) -> WriteResult:
    """Key ``motion`` onto ``rig`` (its armature or a mesh) from ``frame_start`` at ``scene_fps``;
    ``keep_previous``: keep the Actions of ours it replaces in the file (see ``_retire``);
    ``tolerance``: reduced keys, each curve within it (in the curve's own units: shape-key
    value, quaternion component) at every frame; None: a key per frame; ``layer``: write
    the take as NLA strips (see the module docstring) instead of active Actions."""
    spec, armature, meshes = rig_spec(rig)
    curves = rig_math.motion_to_curves(motion, spec, frame_start, scene_fps)
    frames = curves.frames
    result = WriteResult(action_name, frame_start=float(frames[0]), frame_end=float(frames[-1]))
    for mesh in meshes:
        key = mesh.data.shape_keys
        names = match_shape_keys(curves.shape_keys, key.key_blocks.keys())
        if not names:
            continue
        for name, block_name in names.items():
            _widen_slider(key.key_blocks[block_name], curves.shape_keys[name])
        label = action_name if armature is None and len(meshes) == 1 else f"{action_name} ({mesh.name} shape keys)"
        pushed, track, settings = _make_room(key, keep_previous, layer)
        action, slot = _new_action(key, label, layer)
        fcurves = _fcurve_collection(action, slot)
        for name, block_name in names.items():
            _write_curve(fcurves, _key_path(block_name), 0, frames, curves.shape_keys[name], result,
                         tolerance=tolerance)
        _place(key, action, slot, layer, track, settings)
        result.actions.append(action.name)
        result.pushed_down += [pushed] if pushed else []
        result.mesh_keys[mesh.name] = sorted(names.values())
    bones = list(dict.fromkeys([*curves.rotations, *curves.other_rotations, *curves.locations, *curves.scales]))
    if armature is not None and bones:
        pushed, track, settings = _make_room(armature, keep_previous, layer)
        action, slot = _new_action(armature, action_name, layer)
        fcurves = _fcurve_collection(action, slot)
        for bone in bones:
            if bone in curves.rotations:
                armature.pose.bones[bone].rotation_mode = "QUATERNION"
            tables = [("rotation_quaternion", curves.rotations.get(bone)), curves.other_rotations.get(bone, (None, None)),
                      ("location", curves.locations.get(bone)), ("scale", curves.scales.get(bone))]
            for prop, table in tables:
                if table is not None:
                    for i, values in enumerate(np.asarray(table).T):
                        _write_curve(fcurves, _bone_path(bone, prop), i, frames, values, result, group=bone,
                                     tolerance=tolerance)
        _place(armature, action, slot, layer, track, settings)
        result.actions.insert(0, action.name)
        result.pushed_down += [pushed] if pushed else []
    if not result.actions:
        raise RigError(f"{rig.name!r} has none of the shape keys or bones this motion drives")
    result.action_name = result.actions[0]
    return result


def meshes_line(result) -> str:
    """Which meshes got which shape keys, when a take went onto more than one mesh ('' otherwise)."""
    if len(result.mesh_keys) < 2:
        return ""
    parts = [f"{mesh} {len(keys)}" + (f" ({', '.join(keys)})" if len(keys) <= 4 else "")
             for mesh, keys in result.mesh_keys.items()]
    return "; shape keys on " + ", ".join(parts)


def _sample(fcurve, frames, default):
    """Values of ``fcurve`` at ``frames``; all-linear curves (ours) are read in bulk."""
    if fcurve is None:
        return np.full(len(frames), default, np.float64)
    points = fcurve.keyframe_points
    n = len(points)
    interpolation = np.empty(n, np.int32)
    points.foreach_get("interpolation", interpolation)
    if n and np.all(interpolation == LINEAR) and fcurve.extrapolation == "CONSTANT" and not fcurve.modifiers:
        co = np.empty(2 * n, np.float32)
        points.foreach_get("co", co)
        return np.interp(frames, co[0::2], co[1::2])
    return np.array([fcurve.evaluate(float(f)) for f in frames])


def read_motion(rig, frame_start: float, frame_end: float, space: str | None = None, scene=None, fps: float = FPS) -> dict:
    """The rig's animation between two scene frames as a motion at ``fps`` (the inverse of ``write_motion``).

    Reads the active Actions (shape keys and bones; without one, the topmost take of ours on
    the NLA); channels without curves hold their current values; bone poses are not read back. ``space`` (if given) must be the rig's expression space.
    """
    spec, armature, meshes = rig_spec(rig, writing=False)
    if space is not None and space != spec.expression_space:
        raise ValueError(f"{rig.name!r} takes the {spec.expression_space!r} expression space, not {space!r}")
    scene = scene or bpy.context.scene
    scene_fps = scene.render.fps / scene.render.fps_base
    n = int(np.floor((frame_end - frame_start) * fps / scene_fps + 1e-6)) + 1
    if n < 1:
        raise ValueError(f"the frame range {frame_start}..{frame_end} is empty")
    frames = rig_math.frame_numbers(n, fps, frame_start, scene_fps)
    curves = rig_math.Curves(frames)
    wanted = {name for targets in spec.channels.values() for name, _ in targets}
    if spec.jaw_shape_key:
        wanted.add(spec.jaw_shape_key[0])
    for mesh in meshes:
        key = mesh.data.shape_keys
        existing = _existing_fcurves(key)
        for name in wanted - set(curves.shape_keys):
            if name in key.key_blocks:
                block = key.key_blocks[name]
                curves.shape_keys[name] = _sample(existing.get((_key_path(name), 0)), frames, block.value)
    if armature is not None:
        existing = _existing_fcurves(armature)
        for bone in {spec.head_bone, spec.jaw_bone} - {None}:
            current = armature.pose.bones[bone].rotation_quaternion
            curves.rotations[bone] = np.stack(
                [_sample(existing.get((_bone_path(bone, "rotation_quaternion"), i)), frames, current[i]) for i in range(4)], -1)
    return rig_math.curves_to_motion(curves, spec, EXPRESSION_DIM, fps)


# ---------------------------------------------------------------------- several takes on one rig

_KEY_FIELDS = (("co", 2, np.float32), ("handle_left", 2, np.float32), ("handle_right", 2, np.float32),
               ("interpolation", 1, np.int32), ("handle_left_type", 1, np.int32), ("handle_right_type", 1, np.int32))


def _animated_blocks(rig):
    armature, meshes = rig_objects(rig)
    blocks = [mesh.data.shape_keys for mesh in meshes if mesh.data.shape_keys is not None]
    return blocks + ([armature] if armature is not None else [])


def take_keys(rig) -> dict:
    """The keys of the Actions of ours on ``rig``, to put back with ``restore_keys`` after
    another take was written: {(block name, data path, index): {field: array}}."""
    saved = {}
    for block in _animated_blocks(rig):
        action = block.animation_data.action if block.animation_data else None
        if action is None or not action.get(OURS_PROP):
            continue
        for (path, index), fcurve in _existing_fcurves(block).items():
            points = fcurve.keyframe_points
            fields = {}
            for name, width, dtype in _KEY_FIELDS:
                fields[name] = np.empty(len(points) * width, dtype)
                points.foreach_get(name, fields[name])
            saved[(block.name, path, index)] = fields
    return saved


def restore_keys(rig, saved: dict, frame_start: float, frame_end: float) -> None:
    """Put keys from ``take_keys`` into the rig's Actions of ours again, except those between
    ``frame_start`` and ``frame_end`` (the take written there wins)."""
    for block in _animated_blocks(rig):
        ad = block.animation_data
        if ad is None or ad.action is None or not ad.action.get(OURS_PROP):
            continue
        existing = _existing_fcurves(block)
        fcurves = _fcurve_collection(ad.action, ad.action_slot if SLOTTED else None)
        for (name, path, index), fields in saved.items():
            frames = fields["co"][0::2]
            keep = (frames < frame_start - 1e-3) | (frames > frame_end + 1e-3)
            if name != block.name or not keep.any():
                continue
            fcurve = existing.get((path, index)) or fcurves.new(path, index=index)
            points = fcurve.keyframe_points
            old = len(points)
            points.add(int(keep.sum()))
            for field, width, dtype in _KEY_FIELDS:
                values = np.empty(len(points) * width, dtype)
                points.foreach_get(field, values)
                values[old * width:] = fields[field].reshape(-1, width)[keep].ravel()
                points.foreach_set(field, values)
            fcurve.update()   # sorts the keys by frame
