"""Editing a take: the ``keep`` parameter of ``generate`` (docs/protocol.md).

A take is a motion ``.npz`` that ``generate`` wrote. ``keep`` regenerates a range of it
(seconds of the take) or keeps some of its frames (frame numbers at its own rate); the
model sees the kept frames on its 25 fps grid (``for_model``), and the output, at any
frame rate, gets the take's own values back on every kept frame (``join``), so what was
kept is unchanged, not only close. All of it works on the take's raw motion (before the
animator's adjustments), which the request's adjustments then apply to as a whole.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import motion_io
from ..protocol import ErrorCode, ProtocolError
from ..timebase import FPS

# How far the take's length may be from the audio's: rounding to frames at two rates
# moves it by under a frame at each (40 ms at 25 fps).
LENGTH_TOLERANCE_SECONDS = 0.1


def _invalid(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_PARAMS, f"generate: keep: {message}", {"param": "keep"})


class KeptTake:
    def __init__(self, spec: dict, expression_space: str):
        """spec: a ``keep`` object checked by ``protocol.check_keep``; raises ProtocolError
        when the take cannot be read, is in another expression space than the model, or
        the range or frames lie outside it. Reads only the take (before any audio work)."""
        self.spec = spec
        path = spec["take"]
        try:
            self.take = motion_io.raw_motion(motion_io.load_motion(path))
        except motion_io.MotionFileError as exc:
            if not Path(path).exists():
                raise ProtocolError(ErrorCode.FILE_NOT_FOUND, str(exc), {"path": path, "param": "keep"}) from None
            raise _invalid(f"{exc}") from None
        if self.take["expression_space"] != expression_space:
            raise ProtocolError(ErrorCode.WRONG_EXPRESSION_SPACE,
                                f"the take {path!r} is in the {self.take['expression_space']!r} expression space but "
                                f"the model uses {expression_space!r}; edit it with the model that made it",
                                {"clip_space": self.take["expression_space"], "model_space": expression_space})
        self.fps = float(self.take["fps"])
        self.frames = len(self.take["exp"])
        self.seconds = self.frames / self.fps
        if "regenerate" in spec:
            start, end = spec["regenerate"]
            if start >= self.seconds:
                raise _invalid(f"regenerate starts at {start:g} s, past the end of the take ({self.seconds:.2f} s); "
                               "give a range inside it")
            if not (~self.kept(FPS, round(self.seconds * FPS))).any():
                raise _invalid(f"regenerate [{start:g}, {end:g}] s holds no frame at the model's {FPS:g} fps; "
                               f"make it at least {1 / FPS:g} s long")
        elif spec["frames"][-1] >= self.frames:
            raise _invalid(f"frame {spec['frames'][-1]} is past the take's last frame ({self.frames - 1}); the frames "
                           "count from 0 at the take's first frame")

    def kept(self, fps: float, n_frames: int) -> np.ndarray:
        """(n_frames,) bool at ``fps``: True where the take's frame is kept."""
        if "regenerate" in self.spec:
            start, end = self.spec["regenerate"]
            keep = np.ones(n_frames, bool)
            keep[int(round(start * fps)): int(round(end * fps))] = False
            return keep
        keep = np.zeros(n_frames, bool)
        frames = np.rint(np.asarray(self.spec["frames"]) * (fps / self.fps)).astype(np.int64)
        keep[frames[frames < n_frames]] = True
        return keep

    def check_length(self, audio_seconds: float) -> None:
        """The take must be as long as the audio it is generated again from."""
        if abs(self.seconds - audio_seconds) > LENGTH_TOLERANCE_SECONDS:
            raise _invalid(f"the take is {self.seconds:.2f} s long but the audio is {audio_seconds:.2f} s; give the "
                           "audio the take was made from, with the same start and end")

    def for_model(self) -> dict:
        """What ``ModelBundle.generate(keep=...)`` takes: the take at 25 fps and its kept frames."""
        take = motion_io.resample_motion(self.take, FPS)
        return {"exp": take["exp"], "pose": take["pose"], "mask": self.kept(FPS, len(take["exp"]))}

    def join(self, motion: dict) -> dict:
        """``motion`` (at its own fps) with the take's values on every kept frame."""
        take = motion_io.resample_motion(self.take, float(motion["fps"]))
        n = min(len(motion["exp"]), len(take["exp"]))
        keep = self.kept(float(motion["fps"]), n)
        exp, pose = np.array(motion["exp"], np.float32), np.array(motion["pose"], np.float32)
        exp[:n][keep], pose[:n][keep] = take["exp"][:n][keep], take["pose"][:n][keep]
        blend = self.spec.get("blend", 0)
        if blend:
            exp[:n], pose[:n] = fade_into_new(exp[:n], keep, blend), fade_into_new(pose[:n], keep, blend)
        return {**motion, "exp": exp, "pose": pose}

    def shape(self):
        """The take's FLAME identity, if its file holds one."""
        return self.take.get("shape")


def fade_into_new(values: np.ndarray, keep: np.ndarray, blend: int) -> np.ndarray:
    """``values`` (T, D) with each kept frame's difference from the new frame next to it
    faded out over the ``blend`` new frames on that side (``keep.blend``).

    The model follows a lone kept frame weakly (a hand-keyed pose it would not have made),
    so the new frames beside it jump back to their own motion. Here that difference is
    added to them, almost fully next to the kept frame and down to none ``blend`` frames
    away, along half a cosine, so the motion eases into the kept frame and out of it. Kept
    frames stay as they are; where the new motion joins kept frames anyway (the edges of
    a long kept run) the difference is a frame's change and moves the new frames little.
    """
    out = np.array(values, np.float32)
    n = len(values)
    weights = 0.5 + 0.5 * np.cos(np.pi * np.arange(1, blend + 1) / (blend + 1))
    for step in (-1, 1):  # the new frames before a kept one, then those after it
        for edge in np.flatnonzero(keep):
            if not 0 <= edge + step < n or keep[edge + step]:
                continue
            difference = values[edge] - values[edge + step]
            for j, weight in enumerate(weights, 1):
                frame = edge + j * step
                if not 0 <= frame < n or keep[frame]:
                    break
                out[frame] += weight * difference
    return out
