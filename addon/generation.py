"""Generate lip-sync: the operators, and applying finished jobs on the main thread.

Generate checks the rig, the audio and the style up front (so most mistakes never reach
the backend), then submits a job and returns: Blender stays responsive while the backend
works. ``service.drain_events`` hands the finished job to ``apply_job`` on the main
thread (``register`` installs it as the handler of generate jobs), which writes variation 1
as one undo step and keeps the take in ``TAKES``; Show Variation writes another one.
Regenerate Range sends the shown variation back with the range to generate again (the
protocol's ``keep``); Range from Word sets that range to a word of the take (its timed
words, ``settings.words``). Keep Pose sends the shown variation with the rig's pose on
the current frame written in, to keep that frame and generate the frames around it again
(``keep.frames`` with ``keep.blend``). Either result becomes another variation, written as
a new Action, and the Action it replaces (with any hand keys) is kept in the file. Apply
Adjustments sends the shown variation back with the Adjust panel's values (``adjust_take``: the backend adjusts the take's raw
motion again, in milliseconds) and writes the result in its place, as Show Variation
does. Each take keeps the settings the backend recorded (``settings`` of its motion,
the adjustments also on its Actions as ``ADJUSTMENTS_PROP``). Nothing is written to the
scene for a job that failed or was cancelled.

Every write of the take also packs it into its scene (``PACKED_TAKE_PROP``, bytes of
``Takes.to_bytes``), so it is saved with the ``.blend`` and is part of each undo step:
opening the file, undo and redo read it back into ``TAKES`` (a file without one leaves no
take), and a take of a reopened file is edited as in the session that made it.
"""
from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

import bpy
import numpy as np

from ..backend import motion_io, protocol
from . import animation, audio, common, rigs, service
from .core import rig_math
from .core.jobs import CANCELLED, DONE
from .core.takes import PackedTakeError, Takes
from .properties import QUALITY_STEPS
from .reporting import Checked, fail, succeed, tell

log = logging.getLogger(__name__)

JOB_KIND = "generate"
REGENERATE_KIND = "regenerate"
KEEP_POSE_KIND = "keep_pose"
ADJUST_KIND = "adjust"
ADJUSTMENTS_PROP = "diffposetalk_adjustments"
PACKED_TAKE_PROP = "diffposetalk_packed_take"   # on the take's scene: the take, as bytes
# Adjustments a FLAME model refuses (it has no channels of these regions).
ARKIT_ONLY_ADJUSTMENTS = ("mouth_scale", "brow_scale", "eye_scale")
BUSY = "A lip-sync job is running; wait for it or cancel it"
TAKES = Takes()  # the last job's variations
_packed = b""    # the bytes of TAKES last packed into the file or read from it


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


def build_request(context, rig, strip=None):
    """(params, job context) for a generate request; raises GenerationError. ``strip``:
    this sound strip instead of the panel's audio choice (a batch)."""
    scene = context.scene
    settings = scene.diffposetalk
    try:
        space = rigs.expression_space(rig)
    except rigs.RigError as exc:
        raise GenerationError(str(exc)) from None
    try:
        if strip is not None or settings.audio_source == "STRIP":
            strip = strip or audio.pick_strip(scene, settings.strip)
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
        "output": _output_file(),
        "start": span.audio_start,
        "end": span.audio_end if span.audio_end > span.audio_start else None,
        "style": style_spec(context, settings, rig, space),
        "audio_scale": None if settings.use_model_guidance else settings.audio_scale,
        "style_scale": None if settings.use_model_guidance else settings.style_scale,
        **adjustment_params(settings),
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


def adjustment_params(settings) -> dict:
    """The protocol's adjustments from the Adjust panel (its properties have the same names)."""
    return {name: getattr(settings, name) for name in protocol.ADJUSTMENTS}


def take_adjustments(motion) -> dict:
    """The adjustments a take was made with, from its recorded settings (defaults where
    it records none)."""
    recorded = motion.get("settings") or {}
    return {name: recorded.get(name, field.default) for name, field in protocol.ADJUSTMENTS.items()}


def shown_adjustments():
    """The adjustments of the variation on the rig, or None without a take."""
    return take_adjustments(TAKES.motion(TAKES.shown)) if TAKES.count else None


def describe_adjustments(adjustments: dict) -> str:
    """The adjustments that change something, in a few words ('no adjustments' for none)."""
    words = []
    for name, value in adjustments.items():
        if value != protocol.ADJUSTMENTS[name].default:
            label = name.removesuffix("_scale").replace("_", " ")
            words.append(f"{label} {value:+d}" if isinstance(value, int) else f"{label} {value:.2f}")
    return ", ".join(words) or "no adjustments"


def _finished_motions(context, job):
    """(scene, rig, motions) of a finished job, its files removed; None (and the panel
    says why) when it failed, was cancelled, or its result or rig is not usable."""
    outputs = (job.result or {}).get("outputs", [])
    if job.state != DONE:
        tell(context, "Lip-sync cancelled" if job.state == CANCELLED else f"Lip-sync failed: {job.message}", error=True)
        return None
    try:
        motions = [motion_io.load_motion(path) for path in outputs]
    except motion_io.MotionFileError as exc:  # checked like any clip: shapes, NaN, frame rate, space
        tell(context, f"Lip-sync failed: the backend's result is not a usable motion ({exc}); nothing was written",
             error=True)
        return None
    finally:
        for path in outputs:
            Path(path).unlink(missing_ok=True)
    scene = bpy.data.scenes.get(job.context["scene"])
    rig = bpy.data.objects.get(job.context["rig"])
    if scene is None or rig is None:
        tell(context, "Lip-sync finished, but its scene or rig is gone; nothing was written", error=True)
        return None
    return scene, rig, motions


def apply_job(job):
    """Main thread: write a finished job's first variation, or tell why there is none;
    returns the write's result, None when nothing was written."""
    context = bpy.context
    finished = _finished_motions(context, job)
    if finished is None:
        return None
    scene, rig, motions = finished
    TAKES.replace(motions, **job.context)
    try:
        result = _write(scene, rig, 0)
    except (rigs.RigError, ValueError) as exc:
        _unpack(_packed)   # the take before, still on its rig, stays the one to edit
        tell(context, f"Could not write the lip-sync to {rig.name!r}: {exc}", error=True)
        return None
    frames = len(motions[0]["exp"])
    tell(context, f"Lip-sync: {frames} frames on {rig.name!r} ({len(motions)} variation(s)) in {result.action_name}"
         + keys_line(result) + animation.meshes_line(result))
    return result


def keys_line(result) -> str:
    """What the keys of a write are: '' for one per frame, else how many and their error."""
    if result.keys == result.frame_keys:
        return ""
    return (f"; {result.keys} keys, {100 * result.keys / max(result.frame_keys, 1):.0f} % of one per frame, "
            f"off by at most {result.max_error:.4f}")


# ---- NLA: takes as strips
def _nla_layer(settings):
    """Where the take goes: NLA strips of this take (``settings.use_nla_strips``), or None: the active Action."""
    if not settings.use_nla_strips:
        return None
    return animation.NlaLayer(TAKES.take_id, settings.nla_blend_in, settings.nla_blend_out)
# ---- end NLA


def _write(scene, rig, index, keep_previous=False):
    """Write variation ``index`` of the take onto ``rig``. As the rig's active Action it
    takes in the keys of ours outside its frames (other takes', the artist's), but not its
    own old ones (``animation.restore_keys``); as NLA strips it replaces its own strips."""
    settings = scene.diffposetalk
    layer = _nla_layer(settings)
    earlier = animation.take_keys(rig) if layer is None else None
    result = animation.write_motion(rig, TAKES.motion(index), TAKES.frame_start, TAKES.fps, TAKES.action_name,
                                    keep_previous=keep_previous,
                                    tolerance=settings.key_tolerance if settings.reduce_keys else None,
                                    layer=layer)
    if earlier is not None:
        animation.restore_keys(rig, earlier, TAKES.action_name, result.frame_start, result.frame_end)
    TAKES.shown = index
    for name in result.actions:
        bpy.data.actions[name][ADJUSTMENTS_PROP] = take_adjustments(TAKES.motion(index))
    settings.take_rig = rig.name
    settings.take_frame_start = int(round(result.frame_start))
    settings.take_frame_end = int(round(result.frame_end))
    keep_take_in_file()
    # Written outside an operator (from the timer), so the undo step is pushed here.
    try:
        bpy.ops.ed.undo_push(message="Generate Lip-Sync")
    except RuntimeError:
        log.debug("no undo step pushed (Blender refused it, e.g. while loading a file)")
    return result


def keep_take_in_file():
    """Pack ``TAKES`` into its scene (and out of any other), to be saved with the file."""
    global _packed
    for scene in bpy.data.scenes:
        # Deleted first also where it is set again: Blender cuts bytes given to an existing
        # property at their first NUL.
        if PACKED_TAKE_PROP in scene:
            del scene[PACKED_TAKE_PROP]
    scene = bpy.data.scenes.get(TAKES.scene)
    _packed = TAKES.to_bytes() if scene is not None and TAKES.count else b""
    if _packed:
        scene[PACKED_TAKE_PROP] = _packed


@bpy.app.handlers.persistent
def take_from_file(*_args):
    """After a file was opened, or an undo or redo step: ``TAKES`` is the take packed in the
    file as it is now (none when it holds none)."""
    packed = next((bytes(scene[PACKED_TAKE_PROP]) for scene in bpy.data.scenes if PACKED_TAKE_PROP in scene), b"")
    if packed != _packed:   # else, e.g. the undo of a hand key, the take is as it was
        _unpack(packed)


def _unpack(packed: bytes) -> None:
    global TAKES, _packed
    _packed = packed
    started = time.perf_counter()
    try:
        TAKES = Takes.from_bytes(packed) if packed else Takes()
    except PackedTakeError as exc:
        TAKES = Takes()
        log.warning("No take to edit: %s", exc)
        return
    log.debug("take of %d variation(s) read from the file (%d bytes) in %.1f ms", TAKES.count, len(packed),
              1000 * (time.perf_counter() - started))


_FILE_HANDLERS = (bpy.app.handlers.load_post, bpy.app.handlers.undo_post, bpy.app.handlers.redo_post)


def show_variation(index):
    """Replace our Action with variation ``index`` of the last take (one undo step);
    returns the write's result; raises GenerationError when it cannot."""
    scene = bpy.data.scenes.get(TAKES.scene)
    rig = bpy.data.objects.get(TAKES.rig)
    if scene is None or rig is None:
        raise GenerationError("The rig of these variations is gone")
    try:
        return _write(scene, rig, index)
    except (rigs.RigError, ValueError, IndexError) as exc:
        raise GenerationError(f"Could not write variation {index + 1}: {exc}") from None


def _check_take_editable():
    """Raises GenerationError unless there is a take whose audio is where it was."""
    if TAKES.count == 0:
        raise GenerationError("There is no take to edit: generate lip-sync first")
    audio_file = Path(TAKES.request["audio"])
    if not audio_file.is_file():   # e.g. a file opened on another machine
        raise GenerationError(f"The take's audio is missing: {audio_file}; put it back there, or generate the "
                              "take again")


def regenerate_request(first: int, last: int):
    """(params, job context) that regenerate scene frames ``first``..``last`` of the shown
    variation; raises GenerationError. The take goes to the backend as a file."""
    _check_take_editable()
    try:
        seconds = TAKES.range_seconds(first, last)
    except ValueError as exc:
        raise GenerationError(str(exc)) from None
    take_file = _shown_take_file()
    shown = TAKES.motion(TAKES.shown)
    params = dict(TAKES.request, output=_output_file(), n_variations=1, seed=TAKES.edit_seed(),
                  keep={"take": str(take_file), "regenerate": seconds},
                  **take_adjustments(shown))  # the new variation looks like the one it edits
    job_context = {"scene": TAKES.scene, "rig": TAKES.rig, "take_file": str(take_file),
                   "done": f"Regenerated frames {first}-{last}"}
    return params, job_context


def keep_pose_request(context, frame: int, blend: int):
    """(params, job context) that regenerate the shown variation so that scene ``frame`` holds
    the rig's pose there (what the animator keyed), the ``blend`` frames on each side
    generated again to join it and faded into it (the protocol's ``keep.frames`` and
    ``keep.blend``), every other frame kept; raises GenerationError.

    The take goes to the backend as it is on the rig, adjustments included, and the request
    asks for no adjustments: so the pose and the kept frames come back exactly as they are
    (the new variation has its adjustments baked in)."""
    _check_take_editable()
    rig = bpy.data.objects.get(TAKES.rig)
    if rig is None:
        raise GenerationError("The rig of this take is gone")
    try:
        keep = TAKES.frames_around(frame, blend)
        spec = rigs.rig_spec(rig)[0]
        hand = animation.read_motion(rig, frame, frame, spec.expression_space, context.scene)
        shown = TAKES.motion(TAKES.shown)
        index = TAKES.take_frame(frame)
        # Only the channels the rig gives back as written are the animator's; the others keep the take's.
        read = rig_math.channels_read_back(spec, shown["exp"][index], shown["pose"][index], len(hand["exp"][0]))
        posed = TAKES.posed_take(frame, hand["exp"][0], hand["pose"][0], *read)
    except (ValueError, rigs.RigError) as exc:
        raise GenerationError(str(exc)) from None
    if len(keep) > protocol.MAX_CLIP_FRAMES:
        raise GenerationError(f"The take has {len(keep)} frames to keep, over the backend's {protocol.MAX_CLIP_FRAMES};"
                              " keep a pose on a shorter take")
    neutral = {name: field.default for name, field in protocol.ADJUSTMENTS.items()}
    take_file = common.user_dir("takes") / f"{uuid.uuid4().hex}_take.npz"
    motion_io.save_motion(take_file, posed, {**(shown.get("settings") or {}), **neutral})
    params = dict(TAKES.request, output=_output_file(), n_variations=1, seed=TAKES.edit_seed(),
                  keep={"take": str(take_file), "frames": keep, "blend": blend}, **neutral)
    baked = describe_adjustments(take_adjustments(shown))
    done = f"Kept the pose of frame {frame}" + ("" if baked == "no adjustments" else f" ({baked} baked in)")
    job_context = {"scene": TAKES.scene, "rig": TAKES.rig, "take_file": str(take_file), "done": done}
    return params, job_context


def _output_file() -> str:
    return str(common.user_dir("takes") / f"{uuid.uuid4().hex}.npz")


def _shown_take_file() -> Path:
    """The shown variation, raw motion and settings included, as a file for the backend."""
    shown = TAKES.motion(TAKES.shown)
    take_file = common.user_dir("takes") / f"{uuid.uuid4().hex}_take.npz"
    motion_io.save_motion(take_file, shown, shown.get("settings"))
    return take_file


def adjust_request(settings):
    """(params, job context) of an ``adjust_take`` of the shown variation with the Adjust
    panel's values; raises GenerationError."""
    if TAKES.count == 0:
        raise GenerationError("There is no take to adjust: generate lip-sync first")
    take_file = _shown_take_file()
    params = {"take": str(take_file), "output": _output_file(), **adjustment_params(settings)}
    job_context = {"scene": TAKES.scene, "rig": TAKES.rig, "take_file": str(take_file), "index": TAKES.shown}
    return params, job_context


def apply_adjusted(job):
    """Main thread: the adjusted take replaces the variation it was made from, on the rig too."""
    context = bpy.context
    Path(job.context["take_file"]).unlink(missing_ok=True)
    finished = _finished_motions(context, job)
    if finished is None:
        return
    scene, rig, motions = finished
    index = job.context["index"]
    if TAKES.rig != rig.name or index >= TAKES.count:
        tell(context, "The take was let go while it was adjusted; nothing was written", error=True)
        return
    before = TAKES.motions[index]
    TAKES.motions[index] = motions[0]
    try:
        result = _write(scene, rig, index)
    except (rigs.RigError, ValueError) as exc:
        TAKES.motions[index] = before
        tell(context, f"Could not write the adjusted take to {rig.name!r}: {exc}", error=True)
        return
    tell(context, f"Adjusted variation {index + 1} ({describe_adjustments(take_adjustments(motions[0]))}) in "
         f"{result.action_name}" + keys_line(result))


def apply_regenerated(job):
    """Main thread: the regenerated take (a range, or a kept pose) becomes another variation,
    written as a new Action; the Action before, hand keys and all, stays in the file."""
    context = bpy.context
    Path(job.context["take_file"]).unlink(missing_ok=True)
    finished = _finished_motions(context, job)
    if finished is None:
        return
    scene, rig, motions = finished
    if TAKES.count == 0 or TAKES.rig != rig.name:
        tell(context, "The take was let go while its range was regenerated; nothing was written", error=True)
        return
    index = TAKES.add(motions[0])
    try:
        result = _write(scene, rig, index, keep_previous=True)
    except (rigs.RigError, ValueError) as exc:
        TAKES.motions.pop()
        tell(context, f"Could not write the regenerated take to {rig.name!r}: {exc}", error=True)
        return
    tell(context, f"{job.context['done']} as variation {index + 1} in {result.action_name}; the take "
         "before is kept as a variation and as its Action" + keys_line(result))


def register():
    service.JOB_HANDLERS[JOB_KIND] = apply_job
    service.JOB_HANDLERS[KEEP_POSE_KIND] = apply_regenerated
    service.JOB_HANDLERS[REGENERATE_KIND] = apply_regenerated
    service.JOB_HANDLERS[ADJUST_KIND] = apply_adjusted
    for handlers in _FILE_HANDLERS:
        handlers.append(take_from_file)


def unregister():
    for handlers in _FILE_HANDLERS:
        if take_from_file in handlers:
            handlers.remove(take_from_file)
    for kind in (JOB_KIND, REGENERATE_KIND, KEEP_POSE_KIND, ADJUST_KIND):
        service.JOB_HANDLERS.pop(kind, None)
    _unpack(b"")


# ---------------------------------------------------------------------- operators

class DIFFPOSETALK_OT_generate(Checked, bpy.types.Operator):
    """Generate lip-sync, expressions and head motion for the active rig from speech; other selected meshes with shape keys are keyed with it as one character"""

    bl_idname = "diffposetalk.generate"
    bl_label = "Generate Lip-Sync"
    bl_options = {"REGISTER"}

    @classmethod
    def disabled_reason(cls, context):
        if service.SESSION.busy:
            return BUSY
        if context.object is None:
            return "Select the rig to animate (its mesh or armature)"
        return None

    def execute(self, context):
        # Meshes selected with the rig are part of its character from now on (its takes'
        # edits and batches write them too), unless the job cannot start.
        rig = context.object
        before = rigs.character_meshes(rig)
        rigs.set_character(rig, context.selected_objects)
        try:
            params, job_context = build_request(context, rig)
            service.submit(common.preferences(context), JOB_KIND, protocol.Method.GENERATE, params, job_context)
        except (GenerationError, service.NotReady) as exc:
            rigs.set_character(rig, before)
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


class _EditingTake(Checked):
    """An operator that sends the shown variation to the backend as a file and returns:
    its ``edit_request(context)`` gives the params and the job context (with ``take_file``),
    ``kind``, ``method`` and ``started`` the job's handler, protocol method and message,
    ``verb`` what it does to a take, ``not_ready(context)`` why else it cannot run."""

    @classmethod
    def disabled_reason(cls, context):
        if service.SESSION.busy:
            return BUSY
        if TAKES.count == 0:
            return f"There is no take in this file to {cls.verb}: generate lip-sync first"
        return cls.not_ready(context)

    def execute(self, context):
        try:
            params, job_context = self.edit_request(context)
        except (GenerationError, OSError) as exc:
            return fail(self, context, str(exc))
        try:
            service.submit(common.preferences(context), self.kind, self.method, params, job_context)
        except service.NotReady as exc:
            Path(job_context["take_file"]).unlink(missing_ok=True)
            return fail(self, context, str(exc))
        tell(context, self.started, report=False)
        return {"FINISHED"}


def _refusal(check, *args) -> str | None:
    """What the ValueError of ``check(*args)`` says (what to change), or None when it passes."""
    try:
        check(*args)
    except ValueError as exc:
        return str(exc)
    return None


class DIFFPOSETALK_OT_regenerate_range(_EditingTake, bpy.types.Operator):
    """Generate the frames From-To of the take shown again, joining the motion kept around them; the result is a new variation and the take before stays"""

    bl_idname = "diffposetalk.regenerate_range"
    bl_label = "Regenerate Range"
    bl_options = {"REGISTER"}
    kind, method, started, verb = REGENERATE_KIND, protocol.Method.GENERATE, "Regenerating the range...", "edit"

    @classmethod
    def not_ready(cls, context):
        settings = context.scene.diffposetalk
        return _refusal(TAKES.range_seconds, settings.regenerate_frame_start, settings.regenerate_frame_end)

    def edit_request(self, context):
        settings = context.scene.diffposetalk
        return regenerate_request(settings.regenerate_frame_start, settings.regenerate_frame_end)


class DIFFPOSETALK_OT_range_from_word(Checked, bpy.types.Operator):
    """Set From and To to the frames of the chosen word of the take shown (widened by the word margin), ready for Regenerate Range"""

    bl_idname = "diffposetalk.range_from_word"
    bl_label = "Range from Word"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def disabled_reason(cls, context):
        if TAKES.count == 0:
            return "There is no take in this file: generate lip-sync first"
        return TAKES.words_missing()

    def execute(self, context):
        settings = context.scene.diffposetalk
        try:
            first, last = TAKES.word_frames(int(settings.regenerate_word), settings.word_margin)
        except ValueError as exc:
            return fail(self, context, str(exc))
        settings.regenerate_frame_start, settings.regenerate_frame_end = first, last
        word = TAKES.words()[int(settings.regenerate_word)]["word"]
        return succeed(self, context, f"Range set to {word!r}: frames {first}-{last}")


class DIFFPOSETALK_OT_keep_pose(_EditingTake, bpy.types.Operator):
    """Keep the rig's pose on the current frame (what you keyed there by hand) and generate the frames around it again so that the motion joins it; the result is a new variation and the take before stays"""

    bl_idname = "diffposetalk.keep_pose"
    bl_label = "Keep Pose"
    bl_options = {"REGISTER"}
    kind, method, started, verb = KEEP_POSE_KIND, protocol.Method.GENERATE, "Keeping the pose...", "edit"

    @classmethod
    def not_ready(cls, context):
        if bpy.data.objects.get(TAKES.rig) is None:
            return "The rig of this take is gone"
        return _refusal(TAKES.take_frame, context.scene.frame_current)

    def edit_request(self, context):
        scene = context.scene
        return keep_pose_request(context, scene.frame_current, scene.diffposetalk.pose_blend_frames)


class DIFFPOSETALK_OT_apply_adjustments(_EditingTake, bpy.types.Operator):
    """Apply the Adjust panel's values to the take shown: its keys are written again from the generated motion, without generating it again"""

    bl_idname = "diffposetalk.apply_adjustments"
    bl_label = "Apply Adjustments"
    bl_options = {"REGISTER"}
    kind, method, started, verb = ADJUST_KIND, protocol.Method.ADJUST_TAKE, "Adjusting the take...", "adjust"

    @classmethod
    def not_ready(cls, context):
        if shown_adjustments() == adjustment_params(context.scene.diffposetalk):
            return "The take shown has these adjustments already: change a value first"
        return None

    def edit_request(self, context):
        return adjust_request(context.scene.diffposetalk)


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
            result = show_variation(self.index)
        except GenerationError as exc:
            return fail(self, context, str(exc))
        return succeed(self, context, f"Showing variation {self.index + 1} of {TAKES.count}" + keys_line(result))


class DIFFPOSETALK_OT_rewrite_keys(Checked, bpy.types.Operator):
    """Write the take shown again with the current key settings: a key per frame, or reduced keys within the tolerance (the full-rate take is kept in the file)"""

    bl_idname = "diffposetalk.rewrite_keys"
    bl_label = "Rewrite Keys"
    bl_options = {"INTERNAL"}  # its own undo step is pushed when the take is written

    @classmethod
    def disabled_reason(cls, context):
        return None if TAKES.count else "There is no take in this file to rewrite: generate lip-sync first"

    def execute(self, context):
        try:
            result = show_variation(TAKES.shown)
        except GenerationError as exc:
            return fail(self, context, str(exc))
        return succeed(self, context, f"Rewrote the keys of variation {TAKES.shown + 1}: {result.keys} keys"
                       + keys_line(result))


class DIFFPOSETALK_OT_keep_variation(_ChoosingVariation, bpy.types.Operator):
    """Keep the variation shown and forget the others (it can still be edited)"""

    bl_idname = "diffposetalk.keep_variation"
    bl_label = "Keep This Variation"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        kept = TAKES.shown
        TAKES.keep_shown()
        keep_take_in_file()
        return succeed(self, context, f"Kept variation {kept + 1}")


CLASSES = (DIFFPOSETALK_OT_generate, DIFFPOSETALK_OT_cancel, DIFFPOSETALK_OT_regenerate_range,
           DIFFPOSETALK_OT_range_from_word, DIFFPOSETALK_OT_keep_pose, DIFFPOSETALK_OT_apply_adjustments, DIFFPOSETALK_OT_show_variation, DIFFPOSETALK_OT_rewrite_keys, DIFFPOSETALK_OT_keep_variation)
