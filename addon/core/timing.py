"""Where a sound strip's audio sits in time, and where its keys go.

A sound strip places second 0 of its sound file at scene frame ``frame_start`` (the
strip's unclipped start) shifted by ``sound_offset`` seconds; trimming moves the visible
handles (``frame_final_start`` / ``frame_final_end``) without moving the sound. So the
part of the file that plays is

    audio_start = (frame_final_start - frame_start) / fps + sound_offset
    audio_end   = (frame_final_end   - frame_start) / fps + sound_offset

and a motion frame k at ``motion_fps`` (25 for the model) belongs on scene frame
``frame_final_start + k * fps / motion_fps``. Everything here is plain arithmetic on
numbers read from Blender, so it is tested without Blender.
"""
from __future__ import annotations

from dataclasses import dataclass


class BadTiming(ValueError):
    """The strip or scene numbers describe no audio to generate from."""


@dataclass(frozen=True)
class AudioSpan:
    """A stretch of a sound file and the scene frames it plays on.

    ``audio_start``/``audio_end`` are seconds into the file; ``frame_start`` is the scene
    frame (fractional when the strip starts between frames) where ``audio_start`` plays;
    ``fps`` is the scene rate (``render.fps / render.fps_base``).
    """

    audio_start: float
    audio_end: float
    frame_start: float
    fps: float

    @property
    def duration(self) -> float:
        return self.audio_end - self.audio_start

    @property
    def frame_end(self) -> float:
        return self.frame_start + self.duration * self.fps

    def frame_at(self, seconds: float) -> float:
        """Scene frame where ``seconds`` after ``audio_start`` plays."""
        return self.frame_start + seconds * self.fps

    def motion_frames(self, n_frames: int, motion_fps: float) -> list:
        """Scene frames of motion frames 0..n_frames-1 sampled at ``motion_fps``."""
        step = self.fps / motion_fps
        return [self.frame_start + k * step for k in range(n_frames)]


def scene_fps(fps: int, fps_base: float) -> float:
    if fps <= 0 or fps_base <= 0:
        raise BadTiming(f"the scene's frame rate {fps}/{fps_base} is not positive; set it in Output Properties")
    return fps / fps_base


def strip_span(
    *,
    frame_start: float,
    frame_final_start: float,
    frame_final_end: float,
    fps: float,
    sound_offset: float = 0.0,
    sound_duration: float | None = None,
) -> AudioSpan:
    """The audio a sound strip plays, honouring its trims, sound offset and the scene rate.

    ``sound_duration`` (seconds, when known) clips the end to the file's length; a part
    before the file's start (a negative offset) is skipped and the keys start later.
    """
    if fps <= 0:
        raise BadTiming(f"frame rate {fps} is not positive")
    start = (frame_final_start - frame_start) / fps + sound_offset
    end = (frame_final_end - frame_start) / fps + sound_offset
    first_frame = float(frame_final_start)
    if start < 0.0:
        first_frame -= start * fps
        start = 0.0
    if sound_duration is not None:
        end = min(end, sound_duration)
    if end <= start:
        raise BadTiming(
            "the sound strip plays no audio (it is trimmed to nothing or lies past the end of "
            "its sound); widen the strip in the Sequencer"
        )
    return AudioSpan(audio_start=start, audio_end=end, frame_start=first_frame, fps=fps)


def file_span(*, frame_start: float, fps: float, duration: float | None = None) -> AudioSpan:
    """A whole audio file placed at ``frame_start``; ``duration`` may be unknown (None -> 0)."""
    if fps <= 0:
        raise BadTiming(f"frame rate {fps} is not positive")
    return AudioSpan(audio_start=0.0, audio_end=duration or 0.0, frame_start=float(frame_start), fps=fps)
