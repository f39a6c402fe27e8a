"""Custom mappings: drive any mesh's shape keys or an armature's bones (through pose
Actions), written as a text the user edits."""
import bpy

from ..backend import expression_spaces
from . import rigs
from .animation import OURS_PROP
from .core import mapping
from .reporting import Checked, fail


def _mapped_object(context):
    """The object a mapping is stored on: the selected mesh with shape keys, or armature."""
    obj = context.object
    if obj is None:
        return None
    if obj.type == "ARMATURE" or (obj.type == "MESH" and obj.data.shape_keys is not None):
        return obj
    return None


class _MappingOperator(Checked):
    @classmethod
    def disabled_reason(cls, context):
        return None if _mapped_object(context) is not None else "Select a mesh with shape keys, or an armature"


def _channels(space_name):
    return expression_spaces.get_space(space_name).channels + (rigs.JAW_CHANNEL,)


def _rig_parts(obj):
    """(shape-key names of the character's meshes, names of Actions that pose its armature)."""
    armature, meshes = rigs.rig_objects(obj)
    keys = [name for mesh in meshes if mesh.data.shape_keys is not None
            for name in mesh.data.shape_keys.key_blocks.keys()[1:]]
    poses = [action.name for action in bpy.data.actions
             if armature is not None and not action.get(OURS_PROP) and rigs.read_pose(action, armature)]
    return list(dict.fromkeys(keys)), poses


class DIFFPOSETALK_OT_mapping_template(_MappingOperator, bpy.types.Operator):
    """Write a mapping text for the selected rig, matching shape keys and pose Actions by name; edit it, then Apply Mapping"""

    bl_idname = "diffposetalk.mapping_template"
    bl_label = "New Mapping Text"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        obj = _mapped_object(context)
        settings = context.scene.diffposetalk
        keys, poses = _rig_parts(obj)
        text = bpy.data.texts.new(f"{obj.name} mapping")
        text.write(mapping.mapping_template(_channels(settings.mapping_space), keys, poses))
        settings.mapping_text = text
        self.report({"INFO"}, f"Edit the text {text.name!r} in the Text Editor, then press Apply Mapping")
        return {"FINISHED"}


class DIFFPOSETALK_OT_apply_mapping(_MappingOperator, bpy.types.Operator):
    """Drive the selected rig's shape keys and bone poses as the mapping text says"""

    bl_idname = "diffposetalk.apply_mapping"
    bl_label = "Apply Mapping"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        obj = _mapped_object(context)
        settings = context.scene.diffposetalk
        if settings.mapping_text is None:
            return fail(self, context, "Choose the mapping text (New Mapping Text makes one)")
        try:
            channels = mapping.parse_mapping(settings.mapping_text.as_string(), _channels(settings.mapping_space))
        except mapping.MappingError as exc:
            return fail(self, context, f"{settings.mapping_text.name}: {exc}")
        keys, poses = _rig_parts(obj)
        missing_keys = sorted({t.name for t in channels.values() if not t.pose and t.name not in keys})
        missing_poses = sorted({t.name for t in channels.values() if t.pose and t.name not in poses})
        if missing_keys:
            return fail(self, context, f"{obj.name!r} and its meshes have no shape key(s) {', '.join(missing_keys)}")
        if missing_poses:
            return fail(self, context, f"No Action(s) {', '.join(missing_poses)} pose bones of {obj.name!r}'s "
                        "armature: make a pose Action (or pose asset) per channel, or fix the names")
        rigs.set_custom_mapping(obj, settings.mapping_space, channels)
        self.report({"INFO"}, f"{obj.name!r} now maps {len(channels)} channels")
        return {"FINISHED"}


class DIFFPOSETALK_OT_clear_mapping(_MappingOperator, bpy.types.Operator):
    """Forget the selected rig's custom mapping (rig detection by shape-key names applies again)"""

    bl_idname = "diffposetalk.clear_mapping"
    bl_label = "Clear Mapping"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        obj = _mapped_object(context)
        rigs.set_custom_mapping(obj, context.scene.diffposetalk.mapping_space, {})
        return {"FINISHED"}


CLASSES = (DIFFPOSETALK_OT_mapping_template, DIFFPOSETALK_OT_apply_mapping, DIFFPOSETALK_OT_clear_mapping)
