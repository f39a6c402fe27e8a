"""Face rigs: build the built-in or a FLAME head, and find out what a scene's rig offers.

Rigs we build follow the FLAME Blender add-on's layout: a mesh parented to an armature
(with an Armature modifier) whose bones are ``root`` > ``neck`` > ``jaw``, ``left_eye``,
``right_eye``. Mesh and armature data are in FLAME's frame and the armature object turns
it upright (+90 degrees about X), so bone-local axis-angle equals the FLAME rotation.
FLAME heads get ``Exp1..`` and ``Pose1..18`` shape keys; the built-in head gets the 52
ARKit shape keys.

Detection (``rig_spec``) gathers the facts about a rig from the scene and leaves the
decision to ``core.rig_detect``; the panel asks ``cached_rig_kind``, which rescans only
after the scene changed. A character is its armature and every mesh that belongs to it
(parented to it or to its meshes, or deformed by it), so that shape keys spread over head,
teeth, tongue and brows are all driven. Linked characters are animated through their
library overrides; linked data that is not overridden is refused with what to do.
"""
from __future__ import annotations

import math
import re

import bpy
import numpy as np
from mathutils import Euler

from ..backend import expression_spaces as spaces
from .core.mapping import Target
from .core.pose_blend import EULER_ORDERS, BonePose, rotation_vector_from_quaternion
from .core.rig_detect import JAW_CHANNEL, RigError, RigFacts, detect_rig, match_shape_keys
from .core.rig_math import POSE_CORRECTIVES, bone_axes

KIND_PROP = "diffposetalk_rig"               # "builtin" | "flame" on rigs we build
JOINT_EXP_PROP = "diffposetalk_joint_exp_dirs"   # FLAME joint regressor x expression basis
MAPPING_PROP = "diffposetalk_mapping"        # a custom mapping on a mesh object
CHARACTER_PROP = "diffposetalk_character"    # on a rig's object: {"0": mesh, ...} selected with it
BONE_LENGTH = 0.02
PART_COLOURS = {
    "skin": (0.80, 0.57, 0.47, 1), "sclera": (0.92, 0.90, 0.87, 1), "iris": (0.20, 0.35, 0.55, 1),
    "pupil": (0.02, 0.02, 0.02, 1), "mouth": (0.05, 0.012, 0.012, 1), "tongue": (0.75, 0.35, 0.35, 1),
    "teeth": (0.92, 0.90, 0.82, 1), "lips": (0.62, 0.27, 0.26, 1),
}


def _heads():
    from ..backend import heads

    return heads


# ---------------------------------------------------------------------- building

def add_builtin_head(context, name: str = "Head"):
    """Add the built-in head at the 3D cursor, with its teeth, tongue and mouth cavity;
    returns the armature (selected and active)."""
    from ..backend.heads import builtin

    rig = build_head(context, builtin.without_inner_mouth(_heads().load_head("builtin")), "builtin", name)
    add_mouth_parts(rig, builtin.load_mouth_parts())
    return rig


def add_flame_head(context, filepath: str, shape=None, name: str | None = None):
    """Add a head from the user's FLAME model file; ``shape`` (up to 300 values) is baked in."""
    heads = _heads()
    from ..backend.heads.flame import FlameFileError

    try:
        head = heads.load_head(bpy.path.abspath(filepath))
    except FlameFileError as exc:
        raise RigError(str(exc)) from None
    return build_head(context, head, "flame", name or f"FLAME-{head.name}", shape=shape)


def _mesh(name, vertices, faces):
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(len(vertices))
    mesh.vertices.foreach_set("co", np.asarray(vertices, np.float32).ravel())
    mesh.loops.add(faces.size)
    mesh.polygons.add(len(faces))
    mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    mesh.polygons.foreach_set("vertices", faces.astype(np.int32).ravel())
    mesh.update()
    mesh.validate()
    if hasattr(mesh, "shade_smooth"):
        mesh.shade_smooth()
    else:
        mesh.polygons.foreach_set("use_smooth", np.ones(len(faces), bool))
    return mesh


def part_material(part):
    """The material of a head part ("skin", "teeth", ...), shared by every head we build."""
    material = bpy.data.materials.get(f"DiffPoseTalk {part}") or bpy.data.materials.new(f"DiffPoseTalk {part}")
    colour = PART_COLOURS.get(part, PART_COLOURS["skin"])
    material.diffuse_color = colour
    if not material.use_nodes:
        material.use_nodes = True
    shader = next((n for n in material.node_tree.nodes if n.type == "BSDF_PRINCIPLED"), None)
    if shader is not None:
        shader.inputs["Base Color"].default_value = colour
        shader.inputs["Roughness"].default_value = 0.25 if part in ("sclera", "iris", "pupil", "teeth") else 0.55
    return material


def _materials(mesh, head):
    if head.face_parts is None:
        names, parts = ("skin",), np.zeros(len(head.faces), np.int32)
    else:
        names, parts = head.part_names, head.face_parts.astype(np.int32)
    for part in names:
        mesh.materials.append(part_material(part))
    mesh.polygons.foreach_set("material_index", parts)


def _add_key(obj, name, coordinates, slider=(0.0, 1.0)):
    block = obj.shape_key_add(name=name, from_mix=False)
    block.data.foreach_set("co", np.asarray(coordinates, np.float32).ravel())
    block.slider_min, block.slider_max = slider
    block.value = 0.0   # new keys start at 1 from Python
    return block


def build_head(context, head, kind: str, name: str, shape=None):
    """Armature + skinned mesh with shape keys for ``head`` (a backend ``HeadModel``)."""
    rest, joints = head.shaped(shape)
    collection = context.collection or context.scene.collection
    mesh_obj = bpy.data.objects.new(name, _mesh(name, rest, head.faces))
    armature = bpy.data.armatures.new(f"{name} rig")
    rig = bpy.data.objects.new(f"{name} rig", armature)
    for obj in (rig, mesh_obj):
        collection.objects.link(obj)
    rig.location = context.scene.cursor.location
    rig.rotation_euler = (math.pi / 2, 0.0, 0.0)
    _materials(mesh_obj.data, head)

    if context.object is not None and context.object.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    bones = []
    for joint_name, parent, position in zip(head.joint_names, head.parents, joints):
        bone = armature.edit_bones.new(joint_name)
        bone.head = position
        bone.tail = position + np.array([0.0, BONE_LENGTH, 0.0])   # +Y, roll 0: rest axes = FLAME's
        bone.roll = 0.0
        if parent >= 0:
            bone.parent = bones[parent]
        bones.append(bone)
    bpy.ops.object.mode_set(mode="OBJECT")
    for pose_bone in rig.pose.bones:
        pose_bone.rotation_mode = "QUATERNION"

    mesh_obj.parent = rig
    modifier = mesh_obj.modifiers.new("Armature", "ARMATURE")
    modifier.object = rig
    for j, joint_name in enumerate(head.joint_names):
        group = mesh_obj.vertex_groups.new(name=joint_name)
        column = head.weights[:, j]
        for index in np.flatnonzero(column > 0):
            group.add([int(index)], float(column[index]), "REPLACE")

    _add_key(mesh_obj, "Basis", rest)
    if kind == "flame":
        low, high = spaces.FLAME.value_range
        for k in range(head.n_exp):
            _add_key(mesh_obj, f"Exp{k + 1}", rest + head.expdirs[:, :, k], (low, high))
        for k, key_name in enumerate(POSE_CORRECTIVES):
            _add_key(mesh_obj, key_name, rest + head.posedirs[:, :, k], (-2.0, 2.0))
        rig[JOINT_EXP_PROP] = head.joint_expdirs.ravel().tolist()
    else:
        by_name = dict(zip(head.expression_names, np.moveaxis(head.expdirs, -1, 0)))
        by_name.update(head.extra_shapes)
        for key_name in spaces.ARKIT_BLENDSHAPES:
            _add_key(mesh_obj, key_name, rest + by_name[key_name])
    for obj in (rig, mesh_obj):
        obj[KIND_PROP] = kind
    for obj in context.view_layer.objects:
        obj.select_set(False)
    rig.select_set(True)
    context.view_layer.objects.active = rig
    return rig


# ---------------------------------------------------------------------- the built-in head's mouth

def add_mouth_parts(rig, parts):
    """Each ``MouthPart`` as a mesh object on ``rig``: skinned to the neck and jaw bones like
    the head, with its shape keys driven by the head's keys of the same name (jawOpen,
    tongueOut), so the mouth follows the jaw whether a take turns the bone or an artist the key."""
    face = next(child for child in rig.children if child.type == "MESH" and child.data.shape_keys is not None)
    face_keys = face.data.shape_keys
    collection = rig.users_collection[0]
    for part in parts:
        name = f"{face.name} {part.name}"
        obj = bpy.data.objects.new(name, _mesh(name, part.vertices, part.faces))
        collection.objects.link(obj)
        obj.data.materials.append(part_material(part.material))
        obj.parent = rig
        obj.modifiers.new("Armature", "ARMATURE").object = rig
        for bone, weights in (("neck", 1.0 - part.jaw_weights), ("jaw", part.jaw_weights)):
            group = obj.vertex_groups.new(name=bone)
            for weight in np.unique(weights[weights > 0]):
                group.add(np.flatnonzero(weights == weight).tolist(), float(weight), "REPLACE")
        if not part.shapes:
            continue
        _add_key(obj, "Basis", part.vertices)
        for shape, offsets in part.shapes.items():
            driver = _add_key(obj, shape, part.vertices + offsets).driver_add("value").driver
            driver.type = "AVERAGE"
            variable = driver.variables.new()
            variable.type = "SINGLE_PROP"
            variable.targets[0].id_type = "KEY"
            variable.targets[0].id = face_keys
            variable.targets[0].data_path = f'key_blocks["{bpy.utils.escape_identifier(shape)}"].value'


# ---------------------------------------------------------------------- detection

def rig_objects(obj):
    """(armature or None, all its meshes, sorted by name) for the rig ``obj`` belongs to:
    meshes parented to the armature or to ``obj`` (at any depth), meshes whose Armature
    modifier deforms with it, and meshes selected together with it (``set_character``)."""
    armature, meshes = _linked_objects(obj)
    meshes = dict.fromkeys([*meshes, *character_meshes(obj)])
    return armature, sorted(meshes, key=lambda m: m.name)


def character_meshes(obj) -> list:
    """The meshes ``set_character`` recorded on ``obj`` that are still in the file."""
    recorded = obj.get(CHARACTER_PROP)
    if not recorded:
        return []
    return [mesh for mesh in recorded.values() if isinstance(mesh, bpy.types.Object) and mesh.type == "MESH"]


def set_character(obj, selected) -> list:
    """Record the meshes of ``selected`` that have shape keys and are not linked to ``obj``
    by parent or armature as part of its character (saved with the file; nothing for none
    of them); returns them. Linked data keeps what it has (the file cannot change it)."""
    if obj.library is not None:
        return character_meshes(obj)
    linked = set(_linked_objects(obj)[1]) | {obj}
    others = sorted((o for o in selected if o.type == "MESH" and o.data.shape_keys is not None and o not in linked),
                    key=lambda m: m.name)
    if others:
        obj[CHARACTER_PROP] = {str(i): mesh for i, mesh in enumerate(others)}
    elif CHARACTER_PROP in obj:
        del obj[CHARACTER_PROP]
    _kinds.clear()
    return others


def _linked_objects(obj):
    """(armature or None, {meshes}) that belong to ``obj``'s rig by parent or armature."""
    armature = obj if obj.type == "ARMATURE" else None
    if armature is None and obj.parent is not None and obj.parent.type == "ARMATURE":
        armature = obj.parent
    if armature is None and obj.type == "MESH":
        armature = next((m.object for m in obj.modifiers if m.type == "ARMATURE" and m.object), None)
    meshes = {obj} if obj.type == "MESH" else set()
    meshes.update(child for child in obj.children_recursive if child.type == "MESH")
    if armature is not None:
        meshes.update(child for child in armature.children_recursive if child.type == "MESH")
        meshes.update(other for other in bpy.data.objects if other.type == "MESH" and any(
            m.type == "ARMATURE" and m.object == armature for m in other.modifiers))
    return armature, meshes


def get_custom_mapping(obj):
    """The custom mapping stored on ``obj``: {"expression_space", "channels": {channel: Target}} or None."""
    stored = obj.get(MAPPING_PROP)
    if stored is None:
        return None
    channels = {}
    for ch, entry in stored["channels"].items():
        pose = "pose" in entry
        channels[str(ch)] = Target(str(entry["pose" if pose else "key"]), float(entry.get("scale", 1.0)), pose)
    return {"expression_space": str(stored["expression_space"]), "channels": channels}


def set_custom_mapping(obj, expression_space: str, channels: dict):
    """Store channel -> Target (a shape key or a pose Action, and a scale) on ``obj`` (saved
    with the .blend).

    Channels are the space's names (``backend.expression_spaces``) plus "jaw" for the jaw
    opening (scale = key value or pose weight per radian). An empty dict removes the mapping.
    """
    space = spaces.get_space(expression_space)
    unknown = [ch for ch in channels if ch != JAW_CHANNEL and ch not in space.channels]
    if unknown:
        raise RigError(f"{', '.join(unknown)} are not channels of the {space.name} space")
    if not channels:
        obj.pop(MAPPING_PROP, None)
        return
    targets = {ch: Target(*target) for ch, target in channels.items()}
    obj[MAPPING_PROP] = {
        "expression_space": space.name,
        "channels": {ch: {"pose" if t.pose else "key": t.name, "scale": float(t.scale)} for ch, t in targets.items()},
    }


def action_curves(action, slot=None):
    """The F-curves of ``action``: of ``slot`` (4.4+; None: its first slot for an object), or
    the legacy Action's own (4.2)."""
    if not hasattr(action, "layers"):
        return list(action.fcurves)
    if slot is None:
        slot = next((s for s in action.slots if getattr(s, "target_id_type", "OBJECT") in ("OBJECT", "UNSPECIFIED")),
                    None)
    if slot is None:
        return []
    return [fc for layer in action.layers for strip in layer.strips
            for bag in [strip.channelbag(slot)] if bag is not None for fc in bag.fcurves]


_BONE_CURVE = re.compile(r'^pose\.bones\["(.+)"\]\.(location|rotation_quaternion|rotation_euler|rotation_axis_angle|scale)$')


def read_pose(action, armature) -> dict:
    """{bone: BonePose} of ``action`` at its last keyed frame (a pose asset's only one): each
    bone of ``armature`` it keys, with the channels it keys, in the bone's local space."""
    values = {}
    curves = action_curves(action)
    frame = max((fc.keyframe_points[-1].co[0] for fc in curves if len(fc.keyframe_points)), default=0.0)
    for fc in curves:
        match = _BONE_CURVE.match(fc.data_path)
        if match and bpy.utils.unescape_identifier(match.group(1)) in armature.pose.bones:
            bone, prop = bpy.utils.unescape_identifier(match.group(1)), match.group(2)
            values.setdefault(bone, {}).setdefault(prop, {})[fc.array_index] = fc.evaluate(frame)
    return {bone: BonePose(_keyed(props, "location", (0.0, 0.0, 0.0)),
                           _keyed_rotation(props, armature.pose.bones[bone].rotation_mode),
                           _keyed(props, "scale", (1.0, 1.0, 1.0)))
            for bone, props in values.items()}


def _keyed(props, prop, rest):
    """A channel's values from {prop: {index: value}}, rest where an index is not keyed; None if none is."""
    if prop not in props:
        return None
    return np.array([props[prop].get(i, rest[i]) for i in range(len(rest))], np.float64)


def _keyed_rotation(props, mode):
    """The rotation vector of a pose bone's keyed rotation; of the bone's own mode's channels
    when several rotation modes are keyed. None: no rotation keyed."""
    quaternion = _keyed(props, "rotation_quaternion", (1.0, 0.0, 0.0, 0.0))
    euler = _keyed(props, "rotation_euler", (0.0, 0.0, 0.0))
    axis_angle = _keyed(props, "rotation_axis_angle", (0.0, 0.0, 1.0, 0.0))
    if euler is not None and (quaternion is None or mode in EULER_ORDERS):
        quaternion = np.array(Euler(euler, mode if mode in EULER_ORDERS else "XYZ").to_quaternion())
    elif axis_angle is not None and (quaternion is None or mode == "AXIS_ANGLE"):
        return axis_angle[1:] / max(np.linalg.norm(axis_angle[1:]), 1e-12) * axis_angle[0]
    return None if quaternion is None else rotation_vector_from_quaternion(quaternion)


def _axes(armature, bone_name):
    if armature is None or bone_name is None:
        return np.eye(3)
    world = np.array(armature.matrix_world.to_3x3()) @ np.array(armature.data.bones[bone_name].matrix_local.to_3x3())
    return bone_axes(world)


def _linked(what, id_block):
    return f"{what} is linked from {id_block.library.filepath!r}, and a file cannot keep animation on linked data"


def _check_writable(spec, armature, meshes, written_keys):
    """Raise RigError, saying what to do, when the take would go onto linked data."""
    if armature is not None and armature.library is not None and (spec.head_bone or spec.jaw_bone or spec.poses):
        raise RigError(_linked(f"The armature {armature.name!r}", armature) + ": select it and Make Library "
                       "Override (Object > Library Override > Make), then generate on the override")
    for mesh in meshes:
        key = mesh.data.shape_keys
        if key.library is not None and match_shape_keys(written_keys, key.key_blocks.keys()):
            what = (f"The mesh {mesh.name!r}" if mesh.library is not None else
                    f"The shape keys of {mesh.name!r} are on its mesh data {mesh.data.name!r}, which")
            raise RigError(_linked(what, key) + ": Make Library Override of the object (Object > Library Override > "
                           "Make) and of its mesh data (in the Outliner, right-click the mesh data > Library "
                           "Override > Make > Selected), then generate again")


def rig_spec(obj, writing: bool = True):
    """(RigSpec, armature, meshes with shape keys) for the rig ``obj`` belongs to; raises RigError
    if none fits or (``writing``) the take would go onto linked data."""
    collection = obj.instance_collection if obj.type == "EMPTY" else None
    if collection is not None and collection.library is not None:
        raise RigError(f"{obj.name!r} shows the collection {collection.name!r} linked from "
                       f"{collection.library.filepath!r}, which cannot be animated: make a library override of it "
                       "(Make Library Override: Object > Library Override > Make), then select its armature or head")
    armature, meshes = rig_objects(obj)
    meshes = [mesh for mesh in meshes if mesh.data.shape_keys is not None]
    stored = armature.get(JOINT_EXP_PROP) if armature is not None else None
    holders = [m for m in dict.fromkeys([obj, armature, *meshes]) if m is not None]
    mapping = next((get_custom_mapping(m) for m in holders if m.get(MAPPING_PROP) is not None), None)
    poses = {}
    if mapping is not None and armature is not None:
        for target in mapping["channels"].values():
            action = bpy.data.actions.get(target.name) if target.pose else None
            pose = read_pose(action, armature) if action is not None else {}
            if pose:
                poses[target.name] = pose
    facts = RigFacts(
        name=obj.name,
        shape_keys=frozenset(block.name for mesh in meshes for block in mesh.data.shape_keys.key_blocks),
        bones=tuple(bone.name for bone in armature.data.bones) if armature is not None else (),
        built=(armature or obj).get(KIND_PROP),
        mapping=mapping,
        joint_exp_dirs=list(stored) if stored is not None else None,
        poses=poses,
        rotation_modes={bone.name: bone.rotation_mode for bone in armature.pose.bones} if armature is not None else {},
    )
    spec = detect_rig(facts)
    spec.head_axes, spec.jaw_axes = _axes(armature, spec.head_bone), _axes(armature, spec.jaw_bone)
    if writing:
        _check_writable(spec, armature, meshes, written_shape_keys(spec))
    return spec, armature, meshes


def written_shape_keys(spec) -> set:
    """The shape-key names a take writes onto ``spec``'s rig."""
    names = {name for targets in spec.channels.values() for name, _scale in targets}
    if spec.jaw_shape_key:
        names.add(spec.jaw_shape_key[0])
    if spec.pose_correctives:
        names.update(POSE_CORRECTIVES)
    return names


def expression_space(obj) -> str:
    """The expression space ("flame" | "arkit") a model must produce for this rig."""
    return rig_spec(obj)[0].expression_space


def rig_kind(obj) -> str:
    """"builtin" | "flame" | "arkit" | "custom"; raises RigError for anything else."""
    return rig_spec(obj)[0].kind


# The panel's rig line, by object: (kind, None) or (None, why not). Redraws are frequent
# and a scan walks every shape key, so the answer is kept until the scene changes.
_kinds = {}


def cached_rig_kind(obj):
    """(kind, None) or (None, the RigError's message) for ``obj``, scanned once per scene change."""
    key = (obj.as_pointer(), obj.name)
    if key not in _kinds:
        try:
            _kinds[key] = (rig_kind(obj), None)
        except RigError as exc:
            _kinds[key] = (None, str(exc))
    return _kinds[key]


@bpy.app.handlers.persistent
def _forget_rig_kinds(*_args):
    _kinds.clear()


_HANDLERS = (bpy.app.handlers.depsgraph_update_post, bpy.app.handlers.load_post)


def register():
    for handlers in _HANDLERS:
        handlers.append(_forget_rig_kinds)


def unregister():
    for handlers in _HANDLERS:
        if _forget_rig_kinds in handlers:
            handlers.remove(_forget_rig_kinds)
    _kinds.clear()
