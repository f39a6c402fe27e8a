"""The variations of the last generation, kept to switch between them and to edit them (no bpy).

One ``Takes`` lives for the add-on's session: a finished job fills it, Show Variation reads
a motion from it, Regenerate Range and Keep Pose add the edited motion to it as another
variation, Keep This Variation keeps only the shown one. Scene and rig are kept by name, so a
take whose rig was deleted is recognised as gone. Each variation's motion carries the
settings the backend recorded, its timed words (``settings.words``) among them.

``to_bytes`` packs the take (every variation's raw and adjusted motion, its settings, the
request that made it, where it lies in the scene) into one compressed ``.npz`` byte string
that the add-on keeps in the ``.blend``; ``from_bytes`` reads it back, so a take of a
reopened file can be edited as in the session that made it. The backend needs nothing but
the take file the add-on writes from it (the protocol's ``keep`` and ``adjust_take``).
"""
from __future__ import annotations

import io
import json
import math
import uuid
import zipfile
from dataclasses import dataclass, field

import numpy as np

from ...backend.motion_io import RAW_KEYS, MotionFileError, check_motion, raw_motion

# The layout of ``to_bytes``; a file from a later add-on with another layout is refused.
PACKED_FORMAT = 1
_HEADER = "take"


class PackedTakeError(ValueError):
    """Packed take bytes that cannot be read back; the message says what to do."""


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

    def keep_shown(self) -> None:
        """Only the shown variation stays (as variation 1), still editable."""
        self.motions = [self.motion(self.shown)]
        self.shown = 0

    def to_bytes(self) -> bytes:
        """The take as a compressed ``.npz`` (float32 arrays, as the backend wrote them, and
        a JSON header); a variation whose adjustments left the motion as the model made it
        stores it once."""
        arrays, variations = {}, []
        for k, motion in enumerate(self.motions):
            exp, pose = np.asarray(motion["exp"], np.float32), np.asarray(motion["pose"], np.float32)
            arrays[f"{k}.exp"], arrays[f"{k}.pose"] = exp, pose
            if motion.get("shape") is not None:
                arrays[f"{k}.shape"] = np.asarray(motion["shape"], np.float32)
            if "raw_exp" not in motion:
                raw = "none"
            elif np.array_equal(motion["raw_exp"], exp) and np.array_equal(motion["raw_pose"], pose):
                raw = "same"
            else:
                raw = "stored"
                arrays.update({f"{k}.{key}": np.asarray(motion[key], np.float32) for key in RAW_KEYS})
            variations.append({"fps": float(motion["fps"]), "expression_space": motion["expression_space"],
                               "settings": motion.get("settings"), "raw": raw})
        header = {"format": PACKED_FORMAT, "scene": self.scene, "rig": self.rig, "frame_start": self.frame_start,
                  "fps": self.fps, "action_name": self.action_name, "request": self.request, "shown": self.shown,
                  "edits": self.edits, "take_id": self.take_id, "variations": variations}
        arrays[_HEADER] = np.str_(json.dumps(header, sort_keys=True, allow_nan=False))
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Takes":
        """The take ``to_bytes`` packed; raises PackedTakeError for bytes that are not one."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as packed:
                arrays = {key: packed[key] for key in packed.files}
            header = json.loads(str(arrays[_HEADER]))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise PackedTakeError(f"the take kept in the file is damaged ({exc}); generate it again") from None
        if header.get("format") != PACKED_FORMAT:
            raise PackedTakeError(f"the take kept in the file has layout {header.get('format')!r}, this add-on "
                                  f"reads {PACKED_FORMAT}; update the add-on or generate the take again")
        try:
            motions = [_unpacked(arrays, k, variation) for k, variation in enumerate(header["variations"])]
            takes = cls(motions=motions, scene=header["scene"], rig=header["rig"],
                        frame_start=float(header["frame_start"]), fps=float(header["fps"]),
                        action_name=header["action_name"], request=dict(header["request"]),
                        shown=int(header["shown"]), edits=int(header["edits"]), take_id=header["take_id"])
        except (KeyError, TypeError, ValueError) as exc:   # MotionFileError is a ValueError
            raise PackedTakeError(f"the take kept in the file is damaged ({exc}); generate it again") from None
        if not 0 <= takes.shown < max(takes.count, 1):
            raise PackedTakeError(f"the take kept in the file shows variation {takes.shown + 1} of {takes.count}; "
                                  "generate it again")
        return takes


def _unpacked(arrays: dict, k: int, variation: dict) -> dict:
    motion = {"exp": arrays[f"{k}.exp"], "pose": arrays[f"{k}.pose"], "fps": float(variation["fps"]),
              "expression_space": variation["expression_space"]}
    if f"{k}.shape" in arrays:
        motion["shape"] = arrays[f"{k}.shape"]
    if variation["raw"] == "stored":
        motion.update({key: arrays[f"{k}.{key}"] for key in RAW_KEYS})
        check_motion(raw_motion(motion), f"variation {k + 1} (its raw motion)")
        if motion["raw_exp"].shape != motion["exp"].shape:
            raise MotionFileError(f"variation {k + 1}: its raw and adjusted motion differ in length")
    elif variation["raw"] == "same":
        motion.update(raw_exp=motion["exp"].copy(), raw_pose=motion["pose"].copy())
    if variation.get("settings") is not None:
        motion["settings"] = variation["settings"]
    return check_motion(motion, f"variation {k + 1}")
