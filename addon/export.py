"""Bake & Export FBX: one take over the generated range, shape keys and bones included."""
from __future__ import annotations

from pathlib import Path

import bpy

from . import rigs
from .reporting import Checked, fail, succeed


# The exporter settings that keep shape keys and bone keys exactly: every frame keyed, no
# curve simplification, no NLA or other actions mixed in, and the base mesh (with its
# shape keys) rather than an evaluated one.
FBX_SETTINGS = dict(
    use_selection=True,
    object_types={"ARMATURE", "MESH"},
    use_mesh_modifiers=False,
    add_leaf_bones=False,
    bake_anim=True,
    bake_anim_use_all_bones=True,
    bake_anim_use_nla_strips=False,
    bake_anim_use_all_actions=False,
    bake_anim_force_startend_keying=True,
    bake_anim_step=1.0,
    bake_anim_simplify_factor=0.0,
)


def export_take(context, rig, filepath, frame_start, frame_end):
    """Export ``rig`` over ``frame_start..frame_end`` to ``filepath``; the scene is restored after."""
    scene = context.scene
    armature, meshes = rigs.rig_objects(rig)
    objects = ([armature] if armature else []) + meshes
    saved = (scene.frame_start, scene.frame_end, scene.frame_current)
    selection = [obj for obj in context.view_layer.objects if obj.select_get()]
    active = context.view_layer.objects.active
    try:
        scene.frame_start, scene.frame_end = frame_start, frame_end
        for obj in selection:
            obj.select_set(False)
        for obj in objects:
            obj.select_set(True)
        context.view_layer.objects.active = rig
        Path(filepath).parent.mkdir(parents=True, exist_ok=True)
        bpy.ops.export_scene.fbx(filepath=str(filepath), **FBX_SETTINGS)
    finally:
        for obj in objects:
            obj.select_set(False)
        for obj in selection:
            obj.select_set(True)
        context.view_layer.objects.active = active
        scene.frame_start, scene.frame_end = saved[0], saved[1]
        scene.frame_set(saved[2])
    return objects


class DIFFPOSETALK_OT_export_fbx(Checked, bpy.types.Operator):
    """Bake the generated take (shape keys and bones) and export it as one FBX take"""

    bl_idname = "diffposetalk.export_fbx"
    bl_label = "Bake & Export FBX"

    filepath: bpy.props.StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"})

    @classmethod
    def disabled_reason(cls, context):
        settings = context.scene.diffposetalk
        if not settings.take_rig or settings.take_rig not in context.scene.objects:
            return "Generate lip-sync first: there is no take to export"
        return None

    def execute(self, context):
        settings = context.scene.diffposetalk
        path = bpy.path.abspath(self.filepath or settings.export_path)
        if not path.lower().endswith(".fbx"):
            path += ".fbx"
        rig = context.scene.objects[settings.take_rig]
        try:
            export_take(context, rig, path, settings.take_frame_start, settings.take_frame_end)
        except (OSError, RuntimeError) as exc:
            return fail(self, context, f"FBX export failed: {exc}")
        return succeed(self, context,
                       f"Exported frames {settings.take_frame_start}-{settings.take_frame_end} of {rig.name!r} to {path}")


CLASSES = (DIFFPOSETALK_OT_export_fbx,)
