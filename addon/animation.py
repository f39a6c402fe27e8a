"""Write a motion onto a rig as new Actions, and read a rig's animation back as a motion.

``write_motion`` never overwrites an artist's animation: an Action that is not ours is
pushed down onto the NLA (where it keeps playing under ours) before a new Action is
assigned; an Action we wrote before (marked with ``OURS_PROP``) is replaced, or with
``keep_previous`` kept in the file (a fake user) for going back to it. Keys are one per
frame (linear), or with ``tolerance`` the fewest Bezier keys within it per curve
(``core.key_reduction``), for animators to edit. Shape-key
curves go to each mesh's Key datablock, bone curves to the armature object. Blender 4.4+
gets slotted Actions (layer, keyframe strip, channelbag), 4.2 the legacy fcurves. Keys go
in with ``keyframe_points.add`` + ``foreach_set``: a ten-minute take writes in well under
a second.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np

from ..backend.expression_spaces import EXPRESSION_DIM
from ..backend.timebase import FPS
from .core import key_reduction, rig_math
from .rigs import RigError, rig_objects, rig_spec

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
    """{(data_path, index): fcurve} of ``id_block``'s active Action (its own slot on 4.4+)."""
    ad = id_block.animation_data
    if ad is None or ad.action is None:
        return {}
    action = ad.action
    if SLOTTED:
        if ad.action_slot is None:
            return {}
        curves = [fc for layer in action.layers for strip in layer.strips
                  for bag in [strip.channelbag(ad.action_slot)] if bag is not None for fc in bag.fcurves]
    else:
        curves = list(action.fcurves)
    return {(fc.data_path, fc.array_index): fc for fc in curves}


def _new_action(id_block, name, keep_previous=False):
    """Give ``id_block`` a fresh Action of ours; push a foreign one onto the NLA first.
    keep_previous: an Action of ours that it replaces gets a fake user instead of going."""
    ad = id_block.animation_data or id_block.animation_data_create()
    previous = ad.action
    pushed = None
    if previous is not None:
        if previous.get(OURS_PROP):
            if keep_previous:
                previous.use_fake_user = True
            ad.action = None
            if previous.users == 0:
                bpy.data.actions.remove(previous)
        else:
            previous_slot = ad.action_slot if SLOTTED else None
            track = ad.nla_tracks.new()
            track.name = previous.name
            strip = track.strips.new(previous.name, int(previous.frame_range[0]), previous)
            if SLOTTED and previous_slot is not None and strip.action_slot != previous_slot:
                strip.action_slot = previous_slot
            ad.action = None
            pushed = previous.name
    action = bpy.data.actions.new(name)
    action[OURS_PROP] = True
    slot = None
    if SLOTTED:
        slot = action.slots.new(id_type=id_block.id_type, name=id_block.name)
        ad.action = action
        ad.action_slot = slot
    else:
        action.id_root = id_block.id_type
        ad.action = action
    return action, slot, pushed


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
                 keep_previous: bool = False, tolerance: float | None = None) -> WriteResult:
    """Key ``motion`` onto ``rig`` (its armature or a mesh) from ``frame_start`` at ``scene_fps``;
    ``keep_previous``: keep the Actions of ours it replaces in the file (see ``_new_action``);
    ``tolerance``: reduced keys, each curve within it (in the curve's own units: shape-key
    value, quaternion component) at every frame; None: a key per frame."""
    spec, armature, meshes = rig_spec(rig)
    curves = rig_math.motion_to_curves(motion, spec, frame_start, scene_fps)
    frames = curves.frames
    result = WriteResult(action_name, frame_start=float(frames[0]), frame_end=float(frames[-1]))
    for mesh in meshes:
        key = mesh.data.shape_keys
        mine = {name: values for name, values in curves.shape_keys.items() if name in key.key_blocks}
        if not mine:
            continue
        for name, values in mine.items():
            _widen_slider(key.key_blocks[name], values)
        label = action_name if armature is None and len(meshes) == 1 else f"{action_name} ({mesh.name} shape keys)"
        action, slot, pushed = _new_action(key, label, keep_previous)
        fcurves = _fcurve_collection(action, slot)
        for name, values in mine.items():
            _write_curve(fcurves, _key_path(name), 0, frames, values, result, tolerance=tolerance)
        result.actions.append(action.name)
        result.pushed_down += [pushed] if pushed else []
    bones = list(dict.fromkeys([*curves.rotations, *curves.locations]))
    if armature is not None and bones:
        action, slot, pushed = _new_action(armature, action_name, keep_previous)
        fcurves = _fcurve_collection(action, slot)
        for bone in bones:
            armature.pose.bones[bone].rotation_mode = "QUATERNION"
            for prop, table in (("rotation_quaternion", curves.rotations), ("location", curves.locations)):
                if bone in table:
                    for i, values in enumerate(np.asarray(table[bone]).T):
                        _write_curve(fcurves, _bone_path(bone, prop), i, frames, values, result, group=bone,
                                     tolerance=tolerance)
        result.actions.insert(0, action.name)
        result.pushed_down += [pushed] if pushed else []
    if not result.actions:
        raise RigError(f"{rig.name!r} has none of the shape keys or bones this motion drives")
    result.action_name = result.actions[0]
    return result


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

    Reads the active Actions (shape keys and bones); channels without curves hold their
    current values. ``space`` (if given) must be the rig's expression space.
    """
    spec, armature, meshes = rig_spec(rig)
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
