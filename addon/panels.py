"""The "Lip Sync" tab in the 3D view's sidebar."""
import bpy

from . import add_head, export, generation, mapping_ops, rigs, service


def _rig_line(obj):
    if obj is None:
        return "Select a head rig (mesh or armature)", "ERROR"
    try:
        kind = rigs.rig_kind(obj)
    except rigs.RigError:
        return f"{obj.name}: no face shape keys", "ERROR"
    return f"{obj.name} ({kind})", "OUTLINER_OB_ARMATURE"


class DIFFPOSETALK_PT_lip_sync(bpy.types.Panel):
    bl_label = "Lip Sync"
    bl_idname = "DIFFPOSETALK_PT_lip_sync"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Lip Sync"

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        scene = context.scene
        settings = scene.diffposetalk
        state = context.window_manager.diffposetalk

        col = layout.column(align=True)
        text, icon = _rig_line(context.object)
        col.label(text=text, icon=icon)
        row = col.row(align=True)
        row.operator(add_head.DIFFPOSETALK_OT_add_head.bl_idname, text="Add Head", icon="MONKEY").kind = "BUILTIN"
        row.operator(add_head.DIFFPOSETALK_OT_add_head.bl_idname, text="Add FLAME Head...").kind = "FLAME"
        if context.object is not None and context.object.type == "MESH":
            box = layout.box()
            box.label(text="Custom Mapping")
            box.prop(settings, "mapping_space")
            box.prop(settings, "mapping_text")
            row = box.row(align=True)
            row.operator(mapping_ops.DIFFPOSETALK_OT_mapping_template.bl_idname, text="New")
            row.operator(mapping_ops.DIFFPOSETALK_OT_apply_mapping.bl_idname, text="Apply")
            row.operator(mapping_ops.DIFFPOSETALK_OT_clear_mapping.bl_idname, text="Clear")

        col = layout.column()
        col.prop(settings, "audio_source")
        if settings.audio_source == "STRIP":
            editor = scene.sequence_editor
            collection = "strips_all" if hasattr(editor, "strips_all") else "sequences_all"
            if editor is not None:
                col.prop_search(settings, "strip", editor, collection, text="Strip")
            else:
                col.label(text="No sound strips in the Sequencer", icon="INFO")
        else:
            col.prop(settings, "audio_file")
            col.prop(settings, "file_frame_start")
        col.prop(settings, "transcript")

        col = layout.column()
        col.prop(settings, "style_source")
        if settings.style_source == "PRESET":
            col.prop(settings, "style_preset")
            info = service.SESSION.model_info
            if info and info.get("presets"):
                col.label(text="Presets: " + ", ".join(info["presets"]))
        elif settings.style_source == "FILE":
            col.prop(settings, "style_file")
        elif settings.style_source == "ACTION":
            row = col.row(align=True)
            row.prop(settings, "style_frame_start")
            row.prop(settings, "style_frame_end")

        col = layout.column(align=True)
        col.prop(settings, "use_model_guidance")
        if settings.use_model_guidance:
            info = service.SESSION.model_info
            if info and "default_audio_scale" in info:
                col.label(text=f"Audio {info['default_audio_scale']:g}, style {info['default_style_scale']:g}")
        else:
            col.prop(settings, "audio_scale")
            col.prop(settings, "style_scale")
        col.prop(settings, "head_motion_scale")
        col = layout.column(align=True)
        col.prop(settings, "quality")
        if settings.quality == "CUSTOM":
            col.prop(settings, "steps")
        col.prop(settings, "seed")
        col.prop(settings, "n_variations")

        job = service.SESSION.job
        if service.SESSION.busy:
            row = layout.row(align=True)
            row.progress(factor=job.fraction, type="BAR", text=f"{job.stage.replace('_', ' ').capitalize()}")
            row.operator(generation.DIFFPOSETALK_OT_cancel.bl_idname, text="", icon="CANCEL")
        else:
            layout.operator(generation.DIFFPOSETALK_OT_generate.bl_idname, icon="PLAY_SOUND")
        if state.message:
            box = layout.box()
            for line in state.message.splitlines()[:6]:
                box.label(text=line, icon="ERROR" if state.message_is_error else "INFO")

        if len(state.variations) > 1:
            layout.template_list("UI_UL_list", "diffposetalk_variations", state, "variations", state, "variation_index",
                                 rows=3)
            layout.operator(generation.DIFFPOSETALK_OT_keep_variation.bl_idname, icon="CHECKMARK")

        col = layout.column()
        col.prop(settings, "export_path")
        col.operator(export.DIFFPOSETALK_OT_export_fbx.bl_idname, icon="EXPORT")


CLASSES = (DIFFPOSETALK_PT_lip_sync,)
