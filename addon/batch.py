"""Batch: lip-sync every sound strip of the Sequencer (or the selected ones) in one run.

Each strip goes onto its rig (the Rig set on the strip, else the active rig; see
``core.batch_plan``) over the frames it plays, one strip after the other through the same
generate job as Generate Lip-Sync: the model loads once, and each finished strip is
written (``generation.apply_job``) before the next is sent. A take replaces the rig's
keys of ours over its strip's frames only: the keys of the rig's other strips (of this run
or an earlier one) and keys inserted by hand stay beside it, in one Action, and the keys
the strip's earlier take wrote outside its frames now (a shortened or moved strip) go. Cancel stops the
running strip and the rest; the takes written so far stay, the cancelled one writes
nothing. The report (panel and info log) names every strip that got no take and why.
"""
from __future__ import annotations

import bpy

from ..backend import protocol
from . import audio, common, generation, rigs, service
from .core.batch_plan import BatchRun, StripFacts, plan_batch
from .core.jobs import CANCELLED
from .reporting import Checked, fail, tell

JOB_KIND = "batch"
RIG_PROP = "diffposetalk_rig"
# Blender 4.4 renamed the strip type Sequence to Strip; 5.0 dropped the old name.
STRIP_TYPE = getattr(bpy.types, "Strip", None) or bpy.types.Sequence
RUN = None     # the running or last BatchRun
_scene = ""    # the scene RUN belongs to


def rig_root(obj):
    """The object that stands for ``obj``'s rig: its armature, else the object itself."""
    return rigs.rig_objects(obj)[0] or obj


def _strip_facts(scene, strip):
    try:
        audio.strip_audio(scene, strip)
        problem = None
    except audio.AudioError as exc:
        problem = str(exc)
    rig = getattr(strip, RIG_PROP)
    return StripFacts(name=strip.name, frame_start=strip.frame_final_start, rig=rig_root(rig).name if rig else None,
                      muted=strip.mute, audio_problem=problem)


def _rig_problem(obj):
    if obj is None:
        return "its rig is not in this file"
    try:
        rigs.rig_spec(obj)
    except rigs.RigError as exc:
        return str(exc)
    return None


def plan(context, selected_only: bool):
    """The plan for the scene's sound strips (all, or the selected ones)."""
    scene = context.scene
    strips = [strip for strip in audio.sound_strips(scene) if strip.select or not selected_only]
    facts = [_strip_facts(scene, strip) for strip in strips]
    active = rig_root(context.object).name if context.object is not None else None
    names = {name for name in [active, *(f.rig for f in facts)] if name}
    problems = {name: _rig_problem(bpy.data.objects.get(name)) for name in names}
    return plan_batch(facts, active, problems)


def start(context, selected_only: bool) -> BatchRun:
    """Plan the batch and send its first strip; raises GenerationError when nothing can run."""
    global RUN, _scene
    batch = BatchRun(plan(context, selected_only))
    if batch.total == 0:
        raise generation.GenerationError("No strip can be lip-synced:\n" + "\n".join(
            f"{strip}: {why}" for strip, why in batch.plan.skipped))
    RUN, _scene = batch, context.scene.name
    _send_next(context)
    return batch


def _send_next(context):
    """Submit the next strip that can start; strips that cannot are failed on the way."""
    scene = bpy.data.scenes.get(_scene)
    while RUN.current is not None:
        planned = RUN.current
        strip = next((s for s in audio.sound_strips(scene) if s.name == planned.strip), None) if scene else None
        rig = bpy.data.objects.get(planned.rig)
        if strip is None or rig is None:
            RUN.fail("its strip or rig is gone")
            continue
        try:
            params, job_context = generation.build_request(context, rig, strip)
            # One take per strip; the panel's transcript is the words of one line, not of every strip.
            params.update(n_variations=1, transcript=None)
            service.submit(common.preferences(context), JOB_KIND, protocol.Method.GENERATE, params, job_context)
        except (generation.GenerationError, service.NotReady) as exc:
            RUN.fail(str(exc))
            continue
        tell(context, f"Batch: strip {RUN.index + 1} of {RUN.total}, {planned.strip} on {planned.rig!r}...",
             report=False)
        return
    lines = RUN.report()
    tell(context, "\n".join(lines), error=bool(RUN.failed or RUN.cancelled))


def apply_batch_job(job):
    """Main thread: write the strip that ended, then send the next (or report the run)."""
    context = bpy.context
    if RUN is None or RUN.finished:
        generation.apply_job(job)
        return
    result = generation.apply_job(job)
    if job.state == CANCELLED:
        RUN.cancel()
    elif result is None:
        RUN.fail(context.window_manager.diffposetalk.message)
    else:
        RUN.done()
    _send_next(context)


def running() -> bool:
    return RUN is not None and not RUN.finished and service.SESSION.busy


def _register_strip_rig():
    setattr(STRIP_TYPE, RIG_PROP, bpy.props.PointerProperty(
        type=bpy.types.Object, name="Rig",
        description="The rig a batch lip-syncs this strip onto; empty: the active rig",
        poll=lambda _strip, obj: obj.type in {"MESH", "ARMATURE"}))


def register():
    _register_strip_rig()
    service.JOB_HANDLERS[JOB_KIND] = apply_batch_job


def unregister():
    global RUN
    service.JOB_HANDLERS.pop(JOB_KIND, None)
    if hasattr(STRIP_TYPE, RIG_PROP):
        delattr(STRIP_TYPE, RIG_PROP)
    RUN = None


# ---------------------------------------------------------------------- operators

def _selected_sound_strips(context):
    return [strip for strip in audio.sound_strips(context.scene) if strip.select]


class DIFFPOSETALK_OT_generate_batch(Checked, bpy.types.Operator):
    """Lip-sync every sound strip (or the selected ones), each onto its Rig (else the active rig) over the frames it plays"""

    bl_idname = "diffposetalk.generate_batch"
    bl_label = "Generate Batch"
    bl_options = {"REGISTER"}

    selected_only: bpy.props.BoolProperty(name="Selected Strips Only", default=False,
                                          description="Only the sound strips selected in the Sequencer")

    @classmethod
    def disabled_reason(cls, context):
        if service.SESSION.busy:
            return generation.BUSY
        if not audio.sound_strips(context.scene):
            return "The scene has no sound strips: add them in the Video Sequencer"
        return None

    def execute(self, context):
        if self.selected_only and not _selected_sound_strips(context):
            return fail(self, context, "No sound strip is selected: select strips in the Sequencer, or batch all")
        try:
            service.config(common.preferences(context))   # a backend that is not set up fails every strip
            start(context, self.selected_only)
        except (generation.GenerationError, service.NotReady) as exc:
            return fail(self, context, str(exc))
        return {"FINISHED"}


class DIFFPOSETALK_OT_set_strip_rig(Checked, bpy.types.Operator):
    """Set the selected rig as the Rig of the selected sound strips (a batch lip-syncs them onto it)"""

    bl_idname = "diffposetalk.set_strip_rig"
    bl_label = "Set Rig on Selected Strips"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def disabled_reason(cls, context):
        if context.object is None or context.object.type not in {"MESH", "ARMATURE"}:
            return "Select the rig (its mesh or armature) to set on the strips"
        if not _selected_sound_strips(context):
            return "Select sound strips in the Sequencer"
        return None

    def execute(self, context):
        rig = rig_root(context.object)
        strips = _selected_sound_strips(context)
        for strip in strips:
            setattr(strip, RIG_PROP, rig)
        self.report({"INFO"}, f"{len(strips)} strip(s) go onto {rig.name!r}")
        return {"FINISHED"}


class DIFFPOSETALK_PT_batch(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Lip Sync"
    bl_parent_id = "DIFFPOSETALK_PT_lip_sync"
    bl_label = "Batch"
    bl_idname = "DIFFPOSETALK_PT_batch"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        if running():
            job = service.SESSION.job
            current = RUN.current
            col = layout.column(align=True)
            col.label(text=f"Strip {RUN.index + 1} of {RUN.total}: {current.strip} on {current.rig}")
            col.progress(factor=job.fraction, type="BAR", text=job.stage.replace("_", " ").capitalize())
            row = col.row(align=True)
            row.progress(factor=RUN.fraction(job.fraction), type="BAR", text=f"{len(RUN.written)} of {RUN.total} done")
            row.operator(generation.DIFFPOSETALK_OT_cancel.bl_idname, text="", icon="CANCEL")
        else:
            row = layout.row(align=True)
            row.operator(DIFFPOSETALK_OT_generate_batch.bl_idname, text="All Strips", icon="SEQ_STRIP_DUPLICATE")
            row.operator(DIFFPOSETALK_OT_generate_batch.bl_idname, text="Selected").selected_only = True
        strips = sorted(audio.sound_strips(context.scene), key=lambda s: (s.frame_final_start, s.name))
        if not strips:
            layout.label(text="No sound strips in the Sequencer", icon="INFO")
            return
        layout.operator(DIFFPOSETALK_OT_set_strip_rig.bl_idname, icon="LINKED")
        col = layout.column(align=True)
        for strip in strips:
            row = col.row(align=True)
            row.label(text=f"{strip.name} ({strip.frame_final_start}-{strip.frame_final_end - 1})",
                      icon="CHECKBOX_HLT" if strip.select else "CHECKBOX_DEHLT")
            row.prop(strip, RIG_PROP, text="")
        col.label(text="Empty Rig: the active rig")


CLASSES = (DIFFPOSETALK_OT_generate_batch, DIFFPOSETALK_OT_set_strip_rig, DIFFPOSETALK_PT_batch)
