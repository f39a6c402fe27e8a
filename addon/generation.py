"""Generate lip-sync: the operators, and applying finished jobs on the main thread.

Generate checks the rig, the audio and the style up front (so most mistakes never reach
the backend), then submits a job and returns: Blender stays responsive while the backend
works. ``service.drain_events`` hands the finished job to ``apply_job`` on the main
thread (``register`` installs it as the handler of generate jobs), which writes variation 1
as one undo step and keeps the take in ``TAKES``; Show Variation writes another one.
Nothing is written to the scene for a job that failed or was cancelled.
"""
from __future__ import annotations

import logging
import uuid
from pathlib import Path

import bpy
import numpy as np

from ..backend import motion_io, protocol
from . import animation, audio, common, rigs, service
from .core.jobs import CANCELLED, DONE
from .core.takes import Takes
from .properties import QUALITY_STEPS
from .reporting import Checked, fail, succeed, tell

log = logging.getLogger(__name__)

JOB_KIND = "generate"
TAKES = Takes()  # the last job's variations


class GenerationError(Exception):
    """The job cannot start; the message says what to fix."""


def style_spec(context, settings, rig, space):
    """The protocol's style object for the panel's style choice."""
    source = settings.style_source
    if source == "NONE":
        return None
    if source == "PRESET":
        if not settings.style_preset:
            raise GenerationError("Choose a style preset by name, or set Style to None")
        return {"kind": "preset", "name": settings.style_preset}
    if source == "FILE":
        path = Path(bpy.path.abspath(settings.style_file))
        if not settings.style_file or not path.is_file():
            raise GenerationError(f"The style file is missing: {path}")
        return {"kind": "vector", "path": str(path)}
    start, end = settings.style_frame_start, settings.style_frame_end
    if end <= start:
        raise GenerationError("The style frame range is empty: set To after From")
    try:
        motion = animation.read_motion(rig, start, end, space)
    except (rigs.RigError, ValueError) as exc:
        raise GenerationError(f"Could not read the style from the rig: {exc}") from None
    frames = len(motion["exp"])
    if frames > protocol.MAX_CLIP_FRAMES:
        raise GenerationError(f"The style range has {frames} frames; use at most {protocol.MAX_CLIP_FRAMES}")
    return {
        "kind": "motion",
        "exp": np.asarray(motion["exp"], dtype=float).round(6).tolist(),
        "pose": np.asarray(motion["pose"], dtype=float).round(6).tolist(),
        "fps": float(motion["fps"]),
        "expression_space": motion["expression_space"],
    }


def build_request(context, rig):
    """(params, job context) for a generate request; raises GenerationError."""
    scene = context.scene
    settings = scene.diffposetalk
    try:
        space = rigs.expression_space(rig)
    except rigs.RigError as exc:
        raise GenerationError(str(exc)) from None
    try:
        if settings.audio_source == "STRIP":
            strip = audio.pick_strip(scene, settings.strip)
            path, span = audio.strip_audio(scene, strip)
            take = strip.name
        else:
            path, span = audio.file_audio(scene, settings.audio_file, settings.file_frame_start)
            take = Path(path).stem
    except audio.AudioError as exc:
        raise GenerationError(str(exc)) from None
    if span.fps > protocol.MAX_FPS:
        raise GenerationError(f"The scene runs at {span.fps:g} fps; lip-sync supports up to {protocol.MAX_FPS:g} fps")
    steps = settings.steps if settings.quality == "CUSTOM" else QUALITY_STEPS[settings.quality]
    max_steps = (service.SESSION.model_info or {}).get("max_steps")
    if steps is not None and max_steps is not None and steps > max_steps:
        raise GenerationError(f"This model has {max_steps} diffusion steps: set Steps to at most {max_steps}")
    params = {
        "audio": path,
        "output": str(common.user_dir("takes") / f"{uuid.uuid4().hex}.npz"),
        "start": span.audio_start,
        "end": span.audio_end if span.audio_end > span.audio_start else None,
        "style": style_spec(context, settings, rig, space),
        "audio_scale": None if settings.use_model_guidance else settings.audio_scale,
        "style_scale": None if settings.use_model_guidance else settings.style_scale,
        "head_motion_scale": settings.head_motion_scale,
        "steps": steps,
        "seed": settings.seed,
        "n_variations": settings.n_variations,
        "fps": span.fps,
        "transcript": settings.transcript.strip() or None,
    }
    job_context = {
        "scene": scene.name,
        "rig": rig.name,
        "frame_start": span.frame_start,
        "fps": span.fps,
        "action_name": f"{take} lip-sync",
        "request": params,
    }
    return params, job_context


def apply_job(job):
    """Main thread: write a finished job's first variation, or tell why there is none."""
    context = bpy.context
    outputs = (job.result or {}).get("outputs", [])
    if job.state != DONE:
        tell(context, "Lip-sync cancelled" if job.state == CANCELLED else f"Lip-sync failed: {job.message}", error=True)
        return
    try:
        motions = [motion_io.load_motion(path) for path in outputs]
    except motion_io.MotionFileError as exc:  # checked like any clip: shapes, NaN, frame rate, space
        tell(context, f"Lip-sync failed: the backend's result is not a usable motion ({exc}); nothing was written",
             error=True)
        return
    finally:
        for path in outputs:
            Path(path).unlink(missing_ok=True)
    scene = bpy.data.scenes.get(job.context["scene"])
    rig = bpy.data.objects.get(job.context["rig"])
    if scene is None or rig is None:
        tell(context, "Lip-sync finished, but its scene or rig is gone; nothing was written", error=True)
        return
    TAKES.replace(motions, **job.context)
    try:
        result = _write(scene, rig, 0)
    except (rigs.RigError, ValueError) as exc:
        TAKES.clear()
        tell(context, f"Could not write the lip-sync to {rig.name!r}: {exc}", error=True)
        return
    frames = len(motions[0]["exp"])
    tell(context, f"Lip-sync: {frames} frames on {rig.name!r} ({len(motions)} variation(s)) in {result.action_name}")


def _write(scene, rig, index):
    result = animation.write_motion(rig, TAKES.motion(index), TAKES.frame_start, TAKES.fps, TAKES.action_name)
    TAKES.shown = index
    settings = scene.diffposetalk
    settings.take_rig = rig.name
    settings.take_frame_start = int(round(result.frame_start))
    settings.take_frame_end = int(round(result.frame_end))
    # Written outside an operator (from the timer), so the undo step is pushed here.
    try:
        bpy.ops.ed.undo_push(message="Generate Lip-Sync")
    except RuntimeError:
        log.debug("no undo step pushed (Blender refused it, e.g. while loading a file)")
    return result


def show_variation(index):
    """Replace our Action with variation ``index`` of the last take (one undo step);
    raises GenerationError when it cannot."""
    scene = bpy.data.scenes.get(TAKES.scene)
    rig = bpy.data.objects.get(TAKES.rig)
    if scene is None or rig is None:
        raise GenerationError("The rig of these variations is gone")
    try:
        _write(scene, rig, index)
    except (rigs.RigError, ValueError, IndexError) as exc:
        raise GenerationError(f"Could not write variation {index + 1}: {exc}") from None


def register():
    service.JOB_HANDLERS[JOB_KIND] = apply_job


def unregister():
    service.JOB_HANDLERS.pop(JOB_KIND, None)
    TAKES.clear()


# ---------------------------------------------------------------------- operators

class DIFFPOSETALK_OT_generate(Checked, bpy.types.Operator):
    """Generate lip-sync, expressions and head motion for the selected rig from speech"""

    bl_idname = "diffposetalk.generate"
    bl_label = "Generate Lip-Sync"
    bl_options = {"REGISTER"}

    @classmethod
    def disabled_reason(cls, context):
        if service.SESSION.busy:
            return "A lip-sync job is running; wait for it or cancel it"
        if context.object is None:
            return "Select the rig to animate (its mesh or armature)"
        return None

    def execute(self, context):
        try:
            params, job_context = build_request(context, context.object)
            service.submit(common.preferences(context), JOB_KIND, protocol.Method.GENERATE, params, job_context)
        except (GenerationError, service.NotReady) as exc:
            return fail(self, context, str(exc))
        tell(context, "Generating lip-sync...", report=False)
        return {"FINISHED"}

    def invoke(self, context, event):
        if self.execute(context) != {"FINISHED"}:
            return {"CANCELLED"}
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        # Only watches for Esc; the job itself lives in the service, so it survives this
        # operator being cancelled (e.g. by loading a file).
        if not service.SESSION.busy:
            return {"FINISHED"}
        if event.type == "ESC" and event.value == "PRESS":
            service.SESSION.cancel()
            return {"FINISHED"}
        return {"PASS_THROUGH"}


class DIFFPOSETALK_OT_cancel(Checked, bpy.types.Operator):
    """Stop the running lip-sync job (Esc does the same); the scene stays unchanged"""

    bl_idname = "diffposetalk.cancel"
    bl_label = "Cancel"

    @classmethod
    def disabled_reason(cls, context):
        return None if service.SESSION.busy else "No lip-sync job is running"

    def execute(self, context):
        service.SESSION.cancel()
        return {"FINISHED"}


class _ChoosingVariation(Checked):
    @classmethod
    def disabled_reason(cls, context):
        return None if TAKES.count > 1 else "There are no variations to choose from"


class DIFFPOSETALK_OT_show_variation(_ChoosingVariation, bpy.types.Operator):
    """Put this variation of the last take on the rig, in place of the one shown"""

    bl_idname = "diffposetalk.show_variation"
    bl_label = "Show Variation"
    bl_options = {"INTERNAL"}  # its own undo step is pushed when the take is written

    index: bpy.props.IntProperty(name="Variation", min=0, description="Which variation (0: the first)")

    def execute(self, context):
        try:
            show_variation(self.index)
        except GenerationError as exc:
            return fail(self, context, str(exc))
        return succeed(self, context, f"Showing variation {self.index + 1} of {TAKES.count}")


class DIFFPOSETALK_OT_keep_variation(_ChoosingVariation, bpy.types.Operator):
    """Keep the variation shown and forget the others"""

    bl_idname = "diffposetalk.keep_variation"
    bl_label = "Keep This Variation"

    def execute(self, context):
        kept = TAKES.shown
        TAKES.clear()
        return succeed(self, context, f"Kept variation {kept + 1}")


CLASSES = (DIFFPOSETALK_OT_generate, DIFFPOSETALK_OT_cancel, DIFFPOSETALK_OT_show_variation,
           DIFFPOSETALK_OT_keep_variation)
