"""The "Lip Sync" tab in the 3D view's sidebar: the Generate button, progress and messages
on top, and one sub-panel per step (Rig, Audio, Style, Quality, Take, Adjust, Export)."""
import bpy

from . import add_head, export, generation, mapping_ops, rigs, service


def _rig_line(obj):
    if obj is None:
        return "Select a head rig (mesh or armature)", "ERROR"
    kind, _why_not = rigs.cached_rig_kind(obj)
    if kind is None:
        return f"{obj.name}: no face shape keys", "ERROR"
    together = rigs.character_meshes(obj)
    with_meshes = f" with {', '.join(mesh.name for mesh in together)}" if together else ""
    return f"{obj.name} ({kind}){with_meshes}", "OUTLINER_OB_ARMATURE"


class _LipSyncPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Lip Sync"


class _Step(_LipSyncPanel):
    bl_parent_id = "DIFFPOSETALK_PT_lip_sync"


def _fields(layout):
    """``layout`` set up for property fields: labels in a column of their own."""
    layout.use_property_split = True
    layout.use_property_decorate = False
    return layout


class DIFFPOSETALK_PT_lip_sync(_LipSyncPanel, bpy.types.Panel):
    bl_label = "Lip Sync"
    bl_idname = "DIFFPOSETALK_PT_lip_sync"

    def draw(self, context):
        layout = self.layout
        state = context.window_manager.diffposetalk
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


class DIFFPOSETALK_PT_rig(_Step, bpy.types.Panel):
    bl_label = "Rig"
    bl_idname = "DIFFPOSETALK_PT_rig"

    def draw(self, context):
        layout, settings = _fields(self.layout), context.scene.diffposetalk
        col = layout.column(align=True)
        text, icon = _rig_line(context.object)
        col.label(text=text, icon=icon)
        row = col.row(align=True)
        row.operator(add_head.DIFFPOSETALK_OT_add_head.bl_idname, text="Add Head", icon="MONKEY").kind = "BUILTIN"
        row.operator(add_head.DIFFPOSETALK_OT_add_head.bl_idname, text="Add FLAME Head...").kind = "FLAME"
        if context.object is not None and context.object.type in {"MESH", "ARMATURE"}:
            box = layout.box()
            box.label(text="Custom Mapping")
            box.prop(settings, "mapping_space")
            box.prop(settings, "mapping_text")
            row = box.row(align=True)
            row.operator(mapping_ops.DIFFPOSETALK_OT_mapping_template.bl_idname, text="New")
            row.operator(mapping_ops.DIFFPOSETALK_OT_apply_mapping.bl_idname, text="Apply")
            row.operator(mapping_ops.DIFFPOSETALK_OT_clear_mapping.bl_idname, text="Clear")


class DIFFPOSETALK_PT_audio(_Step, bpy.types.Panel):
    bl_label = "Audio"
    bl_idname = "DIFFPOSETALK_PT_audio"

    def draw(self, context):
        layout, settings = _fields(self.layout), context.scene.diffposetalk
        col = layout.column()
        col.prop(settings, "audio_source")
        if settings.audio_source == "STRIP":
            editor = context.scene.sequence_editor
            collection = "strips_all" if hasattr(editor, "strips_all") else "sequences_all"
            if editor is not None:
                col.prop_search(settings, "strip", editor, collection, text="Strip")
            else:
                col.label(text="No sound strips in the Sequencer", icon="INFO")
        else:
            col.prop(settings, "audio_file")
            col.prop(settings, "file_frame_start")
        col.prop(settings, "transcript")


class DIFFPOSETALK_PT_style(_Step, bpy.types.Panel):
    bl_label = "Style"
    bl_idname = "DIFFPOSETALK_PT_style"

    def draw(self, context):
        layout, settings = _fields(self.layout), context.scene.diffposetalk
        info = service.SESSION.model_info
        col = layout.column()
        col.prop(settings, "style_source")
        if settings.style_source == "PRESET":
            col.prop(settings, "style_preset")
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
            if info and "default_audio_scale" in info:
                col.label(text=f"Audio {info['default_audio_scale']:g}, style {info['default_style_scale']:g}")
        else:
            col.prop(settings, "audio_scale")
            col.prop(settings, "style_scale")


class DIFFPOSETALK_PT_quality(_Step, bpy.types.Panel):
    bl_label = "Quality"
    bl_idname = "DIFFPOSETALK_PT_quality"

    def draw(self, context):
        layout, settings = _fields(self.layout), context.scene.diffposetalk
        col = layout.column(align=True)
        col.prop(settings, "quality")
        if settings.quality == "CUSTOM":
            col.prop(settings, "steps")
        col.prop(settings, "seed")
        col.prop(settings, "n_variations")


def _draw_nla(layout, settings):
    col = layout.column(align=True)
    col.prop(settings, "use_nla_strips")
    if settings.use_nla_strips:
        col.prop(settings, "nla_blend_in")
        col.prop(settings, "nla_blend_out")


class DIFFPOSETALK_PT_take(_Step, bpy.types.Panel):
    bl_label = "Take"
    bl_idname = "DIFFPOSETALK_PT_take"

    def draw(self, context):
        layout, settings = _fields(self.layout), context.scene.diffposetalk
        if not settings.take_rig:
            layout.label(text="No take yet: press Generate Lip-Sync")
            return
        layout.label(text=f"{settings.take_rig}: frames {settings.take_frame_start}-{settings.take_frame_end}")
        takes = generation.TAKES
        if takes.count:
            col = layout.column(align=True)
            row = col.row(align=True)
            row.prop(settings, "regenerate_frame_start")
            row.prop(settings, "regenerate_frame_end")
            missing = takes.words_missing()
            if missing is None:
                col.prop(settings, "regenerate_word")
                row = col.row(align=True)
                row.prop(settings, "word_margin")
                row.operator(generation.DIFFPOSETALK_OT_range_from_word.bl_idname, icon="SORTALPHA")
            else:
                col.label(text=missing, icon="INFO")
            col.operator(generation.DIFFPOSETALK_OT_regenerate_range.bl_idname, icon="FILE_REFRESH")
            col = layout.column(align=True)
            col.prop(settings, "pose_blend_frames")
            col.operator(generation.DIFFPOSETALK_OT_keep_pose.bl_idname, icon="POSE_HLT")
        col = layout.column(align=True)
        col.prop(settings, "reduce_keys")
        if settings.reduce_keys:
            col.prop(settings, "key_tolerance")
        if takes.count:
            col.operator(generation.DIFFPOSETALK_OT_rewrite_keys.bl_idname, icon="KEYFRAME")
        _draw_nla(layout, settings)
        if takes.count > 1:
            row = layout.row(align=True)
            for k in range(takes.count):
                row.operator(generation.DIFFPOSETALK_OT_show_variation.bl_idname, text=str(k + 1),
                             depress=k == takes.shown).index = k
            layout.operator(generation.DIFFPOSETALK_OT_keep_variation.bl_idname, icon="CHECKMARK")


# --- Adjust -------------------------------------------------------------------------------

class DIFFPOSETALK_PT_adjust(_Step, bpy.types.Panel):
    """The take's adjustments: sent with Generate, applied to the shown take by Apply Adjustments."""

    bl_label = "Adjust"
    bl_idname = "DIFFPOSETALK_PT_adjust"

    def draw(self, context):
        layout, settings = _fields(self.layout), context.scene.diffposetalk
        flame = (service.SESSION.model_info or {}).get("expression_space") == "flame"
        col = layout.column(align=True)
        for name in generation.ARKIT_ONLY_ADJUSTMENTS:
            row = col.row(align=True)
            row.active = not flame
            row.prop(settings, name)
        col.prop(settings, "jaw_scale")
        col.prop(settings, "head_motion_scale")
        col = layout.column(align=True)
        col.prop(settings, "lip_sync_offset")
        col.prop(settings, "smoothing")
        if flame:
            layout.label(text="FLAME models: jaw, head, offset and smoothing only", icon="INFO")
        shown = generation.shown_adjustments()
        if shown is not None:
            layout.label(text="Take: " + generation.describe_adjustments(shown))
        layout.operator(generation.DIFFPOSETALK_OT_apply_adjustments.bl_idname, icon="MODIFIER")


class DIFFPOSETALK_PT_export(_Step, bpy.types.Panel):
    bl_label = "Export"
    bl_idname = "DIFFPOSETALK_PT_export"

    def draw(self, context):
        layout, settings = _fields(self.layout), context.scene.diffposetalk
        col = layout.column()
        col.prop(settings, "export_path")
        col.operator(export.DIFFPOSETALK_OT_export_fbx.bl_idname, icon="EXPORT")


# The parent first: a sub-panel registers after the panel it belongs to.
CLASSES = (DIFFPOSETALK_PT_lip_sync, DIFFPOSETALK_PT_rig, DIFFPOSETALK_PT_audio, DIFFPOSETALK_PT_style,
           DIFFPOSETALK_PT_quality, DIFFPOSETALK_PT_take, DIFFPOSETALK_PT_adjust, DIFFPOSETALK_PT_export)
