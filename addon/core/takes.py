"""The variations of the last generation, kept in memory to switch between them (no bpy).

One ``Takes`` lives for the add-on's session: a finished job fills it, Show Variation reads
a motion from it, Regenerate Range adds the edited motion to it as another variation, Keep
This Variation empties it. Scene and rig are kept by name, so a
take whose rig was deleted is recognised as gone.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field


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
    edits: int = 0            # ranges regenerated since the take was made (each its own seed)
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

    def motion(self, index: int) -> dict:
        if not 0 <= index < self.count:
            raise IndexError(f"there is no variation {index + 1} (the take has {self.count})")
        return self.motions[index]

    def clear(self) -> None:
        self.motions = []
        self.shown = self.edits = 0
