"""Which audio to send to the backend, and where its keys go in the scene."""
from __future__ import annotations

from pathlib import Path

import bpy

from . import common
from .core import timing


class AudioError(Exception):
    """No usable audio; the message says what to do."""


def _strips(scene):
    editor = scene.sequence_editor
    if editor is None:
        return []
    # Blender 4.4 renamed ``sequences_all`` to ``strips_all``; 5.0 dropped the old name.
    return list(getattr(editor, "strips_all", None) or getattr(editor, "sequences_all", []))


def sound_strips(scene):
    return [strip for strip in _strips(scene) if strip.type == "SOUND"]


def pick_strip(scene, name: str):
    """The named sound strip, else the active one, else the only one."""
    strips = sound_strips(scene)
    if name:
        for strip in strips:
            if strip.name == name:
                return strip
        raise AudioError(f"There is no sound strip named {name!r}; pick one in the Lip Sync panel")
    active = scene.sequence_editor.active_strip if scene.sequence_editor else None
    if active is not None and active.type == "SOUND":
        return active
    if len(strips) == 1:
        return strips[0]
    if not strips:
        raise AudioError("The scene has no sound strip: add one in the Video Sequencer or choose an audio file")
    raise AudioError("Several sound strips: make one active in the Sequencer or pick it in the Lip Sync panel")


def strip_audio(scene, strip):
    """(file path, AudioSpan) for a sound strip; a packed sound is written out first."""
    sound = strip.sound
    if sound is None:
        raise AudioError(f"Sound strip {strip.name!r} has no sound")
    if sound.packed_file is not None:
        suffix = Path(sound.filepath).suffix or ".wav"
        path = common.user_dir("audio") / f"{bpy.path.clean_name(sound.name)}{suffix}"
        path.write_bytes(sound.packed_file.data)
    else:
        path = Path(bpy.path.abspath(sound.filepath, library=sound.library))
        if not path.is_file():
            raise AudioError(f"The sound file of strip {strip.name!r} is missing: {path}")
    fps = timing.scene_fps(scene.render.fps, scene.render.fps_base)
    try:
        span = timing.strip_span(
            frame_start=strip.frame_start,
            frame_final_start=strip.frame_final_start,
            frame_final_end=strip.frame_final_end,
            fps=fps,
            sound_offset=getattr(strip, "sound_offset", 0.0),
            sound_duration=strip.frame_duration / fps,
        )
    except timing.BadTiming as exc:
        raise AudioError(str(exc)) from None
    return str(path), span


def file_audio(scene, filepath: str, frame_start: int):
    path = Path(bpy.path.abspath(filepath))
    if not filepath or not path.is_file():
        raise AudioError(f"Choose an existing audio file (WAV, FLAC, OGG or MP3); {path} is missing")
    fps = timing.scene_fps(scene.render.fps, scene.render.fps_base)
    return str(path), timing.file_span(frame_start=frame_start, fps=fps)
