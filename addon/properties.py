"""What the Lip Sync panel edits (saved with the scene) and what it shows (runtime state)."""
from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from ..backend import protocol

# Sampler steps per quality preset; None keeps the model's default.
QUALITY_STEPS = {"DRAFT": 10, "STANDARD": None, "HIGH": 100}
# The ranges of the fields come from the protocol's generate parameters.
_GENERATE = protocol.PARAMS[protocol.Method.GENERATE]
_BLENDER_INT_MAX = 2**31 - 1  # an IntProperty is a signed 32-bit int


def _range(name) -> dict:
    return {"min": _GENERATE[name].low, "max": min(_GENERATE[name].high, _BLENDER_INT_MAX)}


_word_items = []  # Blender needs the enum's strings kept alive while it shows them


def _take_words(_settings, _context):
    """The Word menu: each timed word of the take shown, as "word (start-end s)"."""
    from .generation import TAKES  # here: generation imports this module

    words = TAKES.words() if TAKES.count else []
    _word_items[:] = [(str(i), f"{w['word']} ({w['start']:.2f}-{w['end']:.2f} s)", f"Word {i + 1} of the take")
                      for i, w in enumerate(words)] or [("0", "No words", "The take shown has no timed words")]
    return _word_items


class DIFFPOSETALK_PG_settings(bpy.types.PropertyGroup):
    audio_source: EnumProperty(
        name="Audio",
        items=(
            ("STRIP", "Sound Strip", "A sound strip in the Sequencer (its trims and start frame are honoured)"),
            ("FILE", "File", "An audio file (WAV, FLAC, OGG, MP3) placed at a start frame"),
        ),
        default="STRIP",
    )
    strip: StringProperty(name="Strip", description="Sound strip to lip-sync; empty: the active sound strip")
    audio_file: StringProperty(name="Audio File", subtype="FILE_PATH")
    file_frame_start: IntProperty(name="Start Frame", description="Frame where the audio file starts", default=1)
    transcript: StringProperty(
        name="Transcript",
        description="The words spoken in the part being lip-synced, if you have them: the speech recognizer then "
        "aligns these words instead of guessing them, which sharpens the mouth timing. Leave empty to let it listen",
    )
    style_source: EnumProperty(
        name="Style",
        items=(
            ("NONE", "None", "No style reference"),
            ("PRESET", "Preset", "A style that ships with the model"),
            ("FILE", "Style File", "A style vector saved as .npy (as many values as the model's style vectors)"),
            ("ACTION", "From Rig", "The rig's current animation over a frame range"),
        ),
        default="NONE",
    )
    style_preset: StringProperty(name="Preset", description="Name of one of the model's style presets")
    style_file: StringProperty(name="Style File", subtype="FILE_PATH")
    style_frame_start: IntProperty(name="From", default=1, min=0)
    style_frame_end: IntProperty(name="To", default=100, min=0)
    use_model_guidance: BoolProperty(
        name="Model's Guidance", default=True,
        description="Use the guidance scales the model recommends; turn off to set them yourself",
    )
    audio_scale: FloatProperty(
        name="Audio Guidance", default=1.15, soft_max=3.0, **_range("audio_scale"),
        description="How strongly the mouth follows the speech",
    )
    style_scale: FloatProperty(
        name="Style Guidance", default=3.0, soft_max=6.0, **_range("style_scale"),
        description="How strongly the motion follows the style reference",
    )
    quality: EnumProperty(
        name="Quality",
        items=(
            ("DRAFT", "Draft", f"{QUALITY_STEPS['DRAFT']} sampler steps: fast previews"),
            ("STANDARD", "Standard", "The model's default number of steps"),
            ("HIGH", "High", f"{QUALITY_STEPS['HIGH']} sampler steps"),
            ("CUSTOM", "Custom", "Choose the number of steps"),
        ),
        default="STANDARD",
    )
    steps: IntProperty(
        name="Steps", default=50, **_range("steps"),
        description="Sampler steps; the model's limit (its diffusion steps) is checked when you generate",
    )
    seed: IntProperty(name="Seed", default=_GENERATE["seed"].default, **_range("seed"))
    n_variations: IntProperty(name="Variations", default=_GENERATE["n_variations"].default, **_range("n_variations"))
    mapping_space: EnumProperty(
        name="Space",
        items=(
            ("arkit", "ARKit", "Map ARKit channels (for a model in the ARKit space, like the default)"),
            ("flame", "FLAME", "Map FLAME expression channels (for released DiffPoseTalk models)"),
        ),
        default="arkit",
    )
    mapping_text: PointerProperty(name="Mapping", type=bpy.types.Text)
    export_path: StringProperty(name="FBX File", subtype="FILE_PATH", default="//lip_sync.fbx")
    regenerate_frame_start: IntProperty(
        name="From", default=1, description="First scene frame of the take to generate again")
    regenerate_frame_end: IntProperty(
        name="To", default=25, description="Last scene frame of the take to generate again (included)")
    regenerate_word: EnumProperty(
        name="Word", items=_take_words,
        description="A word of the take shown, with its start and end in seconds; Range from Word sets From and "
        "To to its frames")
    word_margin: IntProperty(
        name="Word Margin", default=2, min=0, soft_max=12,
        description="Frames added before and after the word: the lips shape a sound a little before it is heard")
    pose_blend_frames: IntProperty(
        name="Pose Blend", default=6, min=1, max=protocol.MAX_KEEP_BLEND_FRAMES,
        description="Keep Pose: frames on each side of the pose that are generated again and ease into it")
    reduce_keys: BoolProperty(
        name="Editable Keys", default=False,
        description="Write the fewest Bezier keys that stay within the tolerance instead of a key on every frame; "
        "the full-rate take stays in the session (Rewrite Keys) and the FBX export bakes every frame anyway",
    )
    key_tolerance: FloatProperty(
        name="Tolerance", default=0.01, min=0.0001, max=0.5, precision=4, step=0.1,
        description="How far a reduced curve may be from the generated motion at any frame, in the curve's own "
        "units (shape-key value, rotation quaternion component)",
    )
    # --- Adjust: the take's adjustments, the protocol's ADJUSTMENTS under the same names ---
    mouth_scale: FloatProperty(
        name="Mouth", default=_GENERATE["mouth_scale"].default, **_range("mouth_scale"),
        description="Intensity of the lip shapes about the neutral; closed lips stay closed (ARKit models)",
    )
    jaw_scale: FloatProperty(
        name="Jaw", default=_GENERATE["jaw_scale"].default, **_range("jaw_scale"),
        description="How far the jaw opens; the lips still close on p, b and m",
    )
    brow_scale: FloatProperty(
        name="Brows", default=_GENERATE["brow_scale"].default, **_range("brow_scale"),
        description="Intensity of the brow motion about the neutral (ARKit models)",
    )
    eye_scale: FloatProperty(
        name="Eyes", default=_GENERATE["eye_scale"].default, **_range("eye_scale"),
        description="Intensity of gaze, squint and wide eyes about the neutral; blinks stay full blinks (ARKit models)",
    )
    head_motion_scale: FloatProperty(
        name="Head Motion", default=_GENERATE["head_motion_scale"].default, soft_max=2.0,
        **_range("head_motion_scale"),
        description="Scale of the head's rotation about its mean",
    )
    lip_sync_offset: IntProperty(
        name="Lip-Sync Offset", default=_GENERATE["lip_sync_offset"].default, **_range("lip_sync_offset"),
        description="Frames the motion comes after the sound (negative: before); the take keeps its frames",
    )
    smoothing: FloatProperty(
        name="Smoothing", default=_GENERATE["smoothing"].default, subtype="FACTOR", **_range("smoothing"),
        description="Smooths the motion over time without smearing lip closures or blinks",
    )
    # --- end of Adjust ---
    # ---- NLA: takes as strips (animation.NlaLayer)
    use_nla_strips: BoolProperty(
        name="Takes as NLA Strips", default=False,
        description="Write each take as an NLA strip on a track of its own, fading in and out, so that takes, "
        "variations and hand animation layer and mix; off: the take is the rig's active Action (keys editable "
        "directly in the Graph Editor)",
    )
    nla_blend_in: FloatProperty(
        name="Blend In", default=3.0, min=0.0, soft_max=25.0, step=100, precision=1,
        description="Frames over which a new take's strip fades in from the animation below it",
    )
    nla_blend_out: FloatProperty(
        name="Blend Out", default=3.0, min=0.0, soft_max=25.0, step=100, precision=1,
        description="Frames over which a new take's strip fades out to the animation below it",
    )
    # ---- end NLA
    # The last take written (what Bake & Export FBX exports).
    take_rig: StringProperty(name="Take Rig")
    take_frame_start: IntProperty(name="Take Start")
    take_frame_end: IntProperty(name="Take End")


class DIFFPOSETALK_PG_state(bpy.types.PropertyGroup):
    """Runtime state on the window manager (not saved with the file)."""

    message: StringProperty(name="Message")
    message_is_error: BoolProperty()


CLASSES = (DIFFPOSETALK_PG_settings, DIFFPOSETALK_PG_state)


def register():
    bpy.types.Scene.diffposetalk = PointerProperty(type=DIFFPOSETALK_PG_settings)
    bpy.types.WindowManager.diffposetalk = PointerProperty(type=DIFFPOSETALK_PG_state)


def unregister():
    for owner in (bpy.types.WindowManager, bpy.types.Scene):
        if hasattr(owner, "diffposetalk"):
            del owner.diffposetalk
