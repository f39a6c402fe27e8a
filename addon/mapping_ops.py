"""Custom mappings: drive any mesh's shape keys, written as a text the user edits."""
import bpy

from ..backend import expression_spaces
from . import rigs
from .core import mapping
from .reporting import Checked, fail


def _mesh_with_keys(context):
    obj = context.object
    return obj if obj is not None and obj.type == "MESH" and obj.data.shape_keys is not None else None


class _MeshOperator(Checked):
    @classmethod
    def disabled_reason(cls, context):
        return None if _mesh_with_keys(context) is not None else "Select a mesh with shape keys"


def _channels(space_name):
    return expression_spaces.get_space(space_name).channels + (rigs.JAW_CHANNEL,)


class DIFFPOSETALK_OT_mapping_template(_MeshOperator, bpy.types.Operator):
    """Write a mapping text for the selected mesh, matching shape keys by name; edit it, then Apply Mapping"""

    bl_idname = "diffposetalk.mapping_template"
    bl_label = "New Mapping Text"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        obj = _mesh_with_keys(context)
        settings = context.scene.diffposetalk
        names = [block.name for block in obj.data.shape_keys.key_blocks[1:]]
        text = bpy.data.texts.new(f"{obj.name} mapping")
        text.write(mapping.mapping_template(_channels(settings.mapping_space), names))
        settings.mapping_text = text
        self.report({"INFO"}, f"Edit the text {text.name!r} in the Text Editor, then press Apply Mapping")
        return {"FINISHED"}


class DIFFPOSETALK_OT_apply_mapping(_MeshOperator, bpy.types.Operator):
    """Drive the selected mesh's shape keys as the mapping text says"""

    bl_idname = "diffposetalk.apply_mapping"
    bl_label = "Apply Mapping"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        obj = _mesh_with_keys(context)
        settings = context.scene.diffposetalk
        if settings.mapping_text is None:
            return fail(self, context, "Choose the mapping text (New Mapping Text makes one)")
        try:
            channels = mapping.parse_mapping(settings.mapping_text.as_string(), _channels(settings.mapping_space))
        except mapping.MappingError as exc:
            return fail(self, context, f"{settings.mapping_text.name}: {exc}")
        keys = obj.data.shape_keys.key_blocks
        missing = sorted({key for key, _scale in channels.values() if key not in keys})
        if missing:
            return fail(self, context, f"{obj.name!r} has no shape key(s) {', '.join(missing)}")
        rigs.set_custom_mapping(obj, settings.mapping_space, channels)
        self.report({"INFO"}, f"{obj.name!r} now maps {len(channels)} channels")
        return {"FINISHED"}


class DIFFPOSETALK_OT_clear_mapping(_MeshOperator, bpy.types.Operator):
    """Forget the selected mesh's custom mapping (rig detection by shape-key names applies again)"""

    bl_idname = "diffposetalk.clear_mapping"
    bl_label = "Clear Mapping"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        obj = _mesh_with_keys(context)
        rigs.set_custom_mapping(obj, context.scene.diffposetalk.mapping_space, {})
        return {"FINISHED"}


CLASSES = (DIFFPOSETALK_OT_mapping_template, DIFFPOSETALK_OT_apply_mapping, DIFFPOSETALK_OT_clear_mapping)
