"""The variations of the last generation, kept in memory to switch between them (no bpy).

One ``Takes`` lives for the add-on's session: a finished job fills it, Show Variation reads
a motion from it, Regenerate Range and Keep Pose add the edited motion to it as another
variation, Keep This Variation empties it. Scene and rig are kept by name, so a
take whose rig was deleted is recognised as gone. Each variation's motion carries the
settings the backend recorded, its timed words (``settings.words``) among them.
"""
from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Takes:
    motions: list = field(default_factory=list)  # one motion dict per variation
    scene: str = ""
    rig: str = ""
    frame_start: float = 1.0  # scene frame of the motion's first frame
    fps: float = 25.0         # the scene's frame rate when the job started
    action_name: str = ""
    request: dict = field(default_factory=dict)  # the generate parameters that made the take
    shown: int = 0            # the variation written to the rig
    edits: int = 0            # ranges regenerated and poses kept since the take was made (each its own seed)
    take_id: str = ""         # names the take's NLA strips, so that its variations replace only them

    @property
    def count(self) -> int:
        return len(self.motions)

    def replace(self, motions, *, scene, rig, frame_start, fps, action_name, request) -> None:
        """A new take (``job.context`` of a generate job gives the keywords); variation 1 is shown."""
        self.motions = list(motions)
        self.scene, self.rig, self.action_name, self.request = scene, rig, action_name, dict(request)
        self.frame_start, self.fps = float(frame_start), float(fps)
        self.shown = self.edits = 0
        self.take_id = uuid.uuid4().hex

    def add(self, motion) -> int:
        """Another variation of the take (a range of it regenerated); returns its index."""
        self.motions.append(motion)
        self.edits += 1
        return self.count - 1

    def edit_seed(self) -> int:
        """The seed of the next edit of this take: another one each time, so that an edit
        gives new frames, not those of the take or of the edit before."""
        return (self.request.get("seed", 0) + 1 + self.edits) % 2**32

    def range_seconds(self, first: int, last: int) -> list:
        """Scene frames ``first`` to ``last`` (both included) of the shown variation as
        ``[start, end]`` seconds of the take (the protocol's ``keep.regenerate``); raises
        ValueError, with what to change, when they are not a range inside the take."""
        if last < first:
            raise ValueError(f"The range is empty: set To ({last}) at or after From ({first})")
        take_first = self.frame_start
        take_last = take_first + len(self.motion(self.shown)["exp"]) - 1
        if first < take_first or last > take_last:
            raise ValueError(f"Frames {first}-{last} are not all in the take (frames {take_first:g}-{take_last:g}); "
                             "choose a range inside it")
        return [(first - take_first) / self.fps, (last + 1 - take_first) / self.fps]

    def words(self) -> list:
        """The shown variation's timed words: [{"word", "start", "end"}] in seconds of the take."""
        return list((self.motion(self.shown).get("settings") or {}).get("words") or [])

    def words_missing(self) -> str | None:
        """Why the shown variation has no timed words (None when it has some)."""
        if self.words():
            return None
        settings = self.motion(self.shown).get("settings") or {}
        if settings.get("speech") is None:
            return "This model reads no words (its audio features carry no word timing): set the range by frames"
        return ("The speech front-end placed no words in this take: give the Transcript and generate again, or "
                "set the range by frames")

    def word_frames(self, index: int, margin: int = 0) -> tuple:
        """(first, last) scene frames of word ``index``: the frames whose time lies within the
        word, widened by ``margin`` frames on each side, within the take."""
        words = self.words()
        if not 0 <= index < len(words):
            raise ValueError(f"There is no word {index + 1} (the take has {len(words)})")
        word = words[index]
        first = math.ceil(word["start"] * self.fps - 1e-6)
        last = max(math.ceil(word["end"] * self.fps - 1e-6) - 1, first)  # a word shorter than a frame has one
        n = len(self.motion(self.shown)["exp"])
        first, last = max(first - margin, 0), min(last + margin, n - 1)
        return int(self.frame_start) + first, int(self.frame_start) + last

    def take_frame(self, frame: int) -> int:
        """The shown variation's frame (0 = its first) at scene frame ``frame``; raises
        ValueError, with what to change, when the take does not hold it."""
        n = len(self.motion(self.shown)["exp"])
        index = frame - self.frame_start
        if index != int(index) or not 0 <= index < n:
            raise ValueError(f"Frame {frame} is not a frame of the take (frames {self.frame_start:g}-"
                             f"{self.frame_start + n - 1:g}): go to the frame of the pose to keep")
        return int(index)

    def posed_take(self, frame: int, exp, pose, exp_read, pose_read) -> dict:
        """The shown variation with the rig's pose on scene ``frame``: ``exp`` (E,) and ``pose``
        (6,) where ``exp_read`` / ``pose_read`` (bool) say the rig was read, the take's own
        values elsewhere. The motion as shown, adjustments included, counts as raw (no raw
        arrays), so the pose and every kept frame come back exactly as they are on the rig."""
        shown = self.motion(self.shown)
        index = self.take_frame(frame)
        posed = {key: shown[key] for key in ("fps", "expression_space", "shape") if key in shown}
        posed["exp"], posed["pose"] = np.array(shown["exp"], np.float32), np.array(shown["pose"], np.float32)
        posed["exp"][index] = np.where(exp_read, exp, posed["exp"][index])
        posed["pose"][index] = np.where(pose_read, pose, posed["pose"][index])
        return posed

    def frames_around(self, frame: int, blend: int) -> list:
        """The protocol's ``keep.frames`` that hold the pose on scene ``frame``: every frame of
        the shown variation but the ``blend`` frames on each side of it, which are generated
        again to join the pose."""
        index = self.take_frame(frame)
        n = len(self.motion(self.shown)["exp"])
        return [k for k in range(n) if k == index or abs(k - index) > blend]

    def motion(self, index: int) -> dict:
        if not 0 <= index < self.count:
            raise IndexError(f"there is no variation {index + 1} (the take has {self.count})")
        return self.motions[index]

    def clear(self) -> None:
        self.motions = []
        self.shown = self.edits = 0
