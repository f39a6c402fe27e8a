"""Importers: recorded motion + audio -> clips of the corpus format (docs/dataset.md).

Two sources:

- DiffPoseTalk-style coefficient files: an ``.npz`` with ``exp`` (T, >= 50), ``pose``
  (T, 6) and optionally ``shape`` ((100,) or per frame (T, 100)), at 25 fps unless it says
  otherwise (an ``fps`` entry), next to the recording's audio. FLAME expression space.
- Live Link Face (iPhone) CSV takes: ``Timecode`` (``HH:MM:SS:FF.sss``, FF counted at
  the capture rate, 60 or 30 fps), ``BlendShapeCount``, the 52 ARKit shapes in CamelCase
  (``EyeBlinkLeft`` ... ``TongueOut``, Live Link Face's own column order, matched by
  name), then ``HeadYaw, HeadPitch, HeadRoll`` and six eye angles. ARKit expression
  space: jawOpen becomes the jaw rotation (``ARKIT_JAW_OPEN_RADIANS`` per unit), the head
  angles become an axis-angle head rotation in the FLAME frame, tongueOut and the eye
  angles are dropped (the eyeLook shapes carry gaze).

Nothing is dropped silently: every import returns an ``ImportReport`` that lists bad rows,
clock gaps, time running backwards and length mismatches.
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..expression_spaces import ARKIT_BLENDSHAPES, ARKIT_CHANNELS, ARKIT_JAW_OPEN_RADIANS, EXPRESSION_DIM
from ..timebase import FPS, SAMPLE_RATE
from .format import (SHAPE_DIM, Clip, DatasetFormatError, frames_for_samples, load_audio,
                     match_length)

CAPTURE_RATES = (24, 25, 30, 48, 50, 60, 120)
HEAD_COLUMNS = ("HeadYaw", "HeadPitch", "HeadRoll")
# Live Link Face writes head angles as fractions of a quarter turn (1.0 = 90 degrees).
HEAD_UNITS = {"normalized": math.pi / 2, "radians": 1.0, "degrees": math.pi / 180}
GAP_FACTOR = 1.5  # a step longer than this many capture frames is a clock gap


class SourceFormatError(DatasetFormatError):
    """A source file cannot be imported at all (as opposed to problems inside it)."""


@dataclass
class ImportProblem:
    kind: str  # bad_row | clock_gap | clock_backwards | duplicate_time | length_mismatch | note
    line: int | None  # 1-based line in the source file, when it is about one line
    time_s: float | None  # seconds from the start of the take
    detail: str

    def __str__(self):
        where = [f"line {self.line}" if self.line is not None else "", f"t={self.time_s:.3f}s" if self.time_s is not None else ""]
        where = ", ".join(w for w in where if w)
        return f"{self.kind}{f' ({where})' if where else ''}: {self.detail}"


@dataclass
class ImportReport:
    source: str
    rows_in: int = 0
    frames_out: int = 0
    capture_fps: float | None = None
    problems: list = field(default_factory=list)

    def add(self, kind, detail, line=None, time_s=None):
        self.problems.append(ImportProblem(kind, line, time_s, detail))

    def of_kind(self, kind) -> list:
        return [p for p in self.problems if p.kind == kind]

    @property
    def ok(self) -> bool:
        return all(p.kind == "note" for p in self.problems)

    def summary(self) -> str:
        head = (f"{self.source}: {self.rows_in} rows in, {self.frames_out} frames out at {FPS:g} fps"
                + (f" (captured at {self.capture_fps:g} fps)" if self.capture_fps else ""))
        return "\n".join([head] + [f"  {problem}" for problem in self.problems])


# --- DiffPoseTalk-style coefficient files ----------------------------------------------------

def import_diffposetalk(motion_path, audio_path, speaker: str, fps: float | None = None,
                        audio_offset_s: float = 0.0, tolerance_s: float = 0.5):
    """Load a coefficient ``.npz`` and its audio -> ``(Clip, audio16k, ImportReport)``."""
    report = ImportReport(source=str(motion_path))
    with np.load(motion_path, allow_pickle=False) as data:
        missing = [key for key in ("exp", "pose") if key not in data]
        if missing:
            raise SourceFormatError(f"{motion_path}: no {' or '.join(missing)} array; DiffPoseTalk files "
                               "hold exp (T, 50) and pose (T, 6)")
        exp, pose = data["exp"].astype(np.float32), data["pose"].astype(np.float32)
        shape = data["shape"].astype(np.float32) if "shape" in data else None
        file_fps = float(data["fps"]) if "fps" in data else None
    fps = fps or file_fps or FPS
    report.rows_in = len(exp)
    if exp.ndim != 2 or exp.shape[1] < EXPRESSION_DIM or pose.shape != (len(exp), 6):
        raise SourceFormatError(f"{motion_path}: expected exp (T, >={EXPRESSION_DIM}) and pose (T, 6), "
                           f"got {exp.shape} and {pose.shape}")
    if exp.shape[1] > EXPRESSION_DIM:
        report.add("note", f"exp has {exp.shape[1]} coefficients; kept the first {EXPRESSION_DIM}")
        exp = exp[:, :EXPRESSION_DIM]
    if shape is not None:
        if shape.ndim == 2:
            shape = shape.mean(axis=0)  # per-frame identity: one identity per clip
        if shape.shape[0] < SHAPE_DIM:
            raise SourceFormatError(f"{motion_path}: shape has {shape.shape[0]} values, need {SHAPE_DIM}")
        shape = shape[:SHAPE_DIM]
    values = np.concatenate([exp, pose], axis=1)
    bad = ~np.isfinite(values).all(axis=1)
    for index in np.flatnonzero(bad):
        report.add("bad_row", "non-finite coefficients; interpolated over", time_s=index / fps)
    times = np.arange(len(values)) / fps
    values = _resample(times[~bad], values[~bad], report, duration=times[-1])
    report.capture_fps = fps
    clip = Clip(exp=values[:, :EXPRESSION_DIM], pose=values[:, EXPRESSION_DIM:], expression_space="flame",
                speaker=speaker, shape=shape)
    return _attach_audio(clip, audio_path, audio_offset_s, tolerance_s, report)


# --- Live Link Face CSV -----------------------------------------------------------------------

_TIMECODE = re.compile(r"^\s*(\d+):(\d\d):(\d\d)[:;](\d+(?:\.\d+)?)\s*$")


def _timecode_parts(text):
    match = _TIMECODE.match(text)
    if match is None:
        raise ValueError(f"timecode {text!r} is not HH:MM:SS:FF.sss")
    hours, minutes, seconds, frame = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds), float(frame)


@dataclass
class LiveLinkTake:
    """A parsed take at its capture rate: ``times`` (N,) seconds from the first good row,
    ``shapes`` (N, 52) in ``ARKIT_BLENDSHAPES`` order, ``head`` (N, 3) yaw/pitch/roll as
    written (see ``HEAD_UNITS``)."""

    times: np.ndarray
    shapes: np.ndarray
    head: np.ndarray
    report: ImportReport


def read_live_link_csv(path, capture_fps: float | None = None) -> LiveLinkTake:
    """Parse a Live Link Face CSV, reporting (not hiding) every row it cannot use."""
    report = ImportReport(source=str(path))
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise SourceFormatError(f"{path} is empty")
    header = [name.strip() for name in rows[0]]
    by_name = {name.lower(): i for i, name in enumerate(header)}
    if "timecode" not in by_name:
        raise SourceFormatError(f"{path}: no Timecode column; is this a Live Link Face CSV export?")
    missing = [name for name in ARKIT_BLENDSHAPES if name.lower() not in by_name]
    if missing:
        raise SourceFormatError(f"{path}: missing blendshape columns {', '.join(missing)}")
    shape_columns = [by_name[name.lower()] for name in ARKIT_BLENDSHAPES]
    head_columns = [by_name.get(name.lower()) for name in HEAD_COLUMNS]
    if None in head_columns:
        report.add("note", "no HeadYaw/HeadPitch/HeadRoll columns; head rotation set to zero")
    time_column = by_name["timecode"]

    parsed = []  # (line, whole seconds, frame number, shapes, head)
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        report.rows_in += 1
        if len(row) != len(header):
            report.add("bad_row", f"{len(row)} fields where the header has {len(header)}", line=line)
            continue
        try:
            whole, frame = _timecode_parts(row[time_column])
            shapes = [float(row[i]) for i in shape_columns]
            head = [float(row[i]) if i is not None else 0.0 for i in head_columns]
        except ValueError as error:
            report.add("bad_row", str(error).replace("could not convert string to float", "not a number"), line=line)
            continue
        if not all(map(math.isfinite, shapes + head)):
            report.add("bad_row", "non-finite value", line=line)
            continue
        parsed.append((line, whole, frame, shapes, head))
    if len(parsed) < 2:
        raise SourceFormatError(f"{path}: fewer than two usable rows ({report.summary()})")

    if capture_fps is None:
        # FF runs 0..rate-1, so the largest frame number seen pins the capture rate
        top = max(int(frame) for _, _, frame, _, _ in parsed) + 1
        capture_fps = next((rate for rate in CAPTURE_RATES if rate >= top), top)
        report.add("note", f"capture rate {capture_fps} fps inferred from the timecodes")
    report.capture_fps = float(capture_fps)

    lines, times, shapes, head = [], [], [], []
    day = 0.0
    previous = None
    step = 1.0 / capture_fps
    for line, whole, frame, row_shapes, row_head in parsed:
        t = whole + frame / capture_fps + day
        if previous is not None and t < previous - 43200:  # the clock passed midnight
            day += 86400.0
            t += 86400.0
        if previous is not None:
            t0 = times[0]
            if t == previous:
                report.add("duplicate_time", "same timecode as the row before; row dropped", line, t - t0)
                continue
            if t < previous:
                report.add("clock_backwards", f"timecode goes back {previous - t:.3f} s; row dropped", line, t - t0)
                continue
            if t - previous > GAP_FACTOR * step:
                report.add("clock_gap", f"{t - previous:.3f} s since the row before "
                           f"(~{round((t - previous) * capture_fps) - 1} frames missing); interpolated",
                           line, previous - t0)
        lines.append(line)
        times.append(t)
        shapes.append(row_shapes)
        head.append(row_head)
        previous = t
    times = np.asarray(times) - times[0]
    return LiveLinkTake(times, np.asarray(shapes, np.float32), np.asarray(head, np.float32), report)


def live_link_motion(take: LiveLinkTake, head_units: str = "normalized"):
    """Resample a take to 25 fps -> (exp (T, 50) ARKit channels, pose (T, 6))."""
    if head_units not in HEAD_UNITS:
        raise ValueError(f"head_units must be one of {sorted(HEAD_UNITS)}, got {head_units!r}")
    values = _resample(take.times, np.concatenate([take.shapes, take.head], axis=1), take.report)
    shapes, head = values[:, :len(ARKIT_BLENDSHAPES)], values[:, len(ARKIT_BLENDSHAPES):]
    index = {name: i for i, name in enumerate(ARKIT_BLENDSHAPES)}
    exp = shapes[:, [index[name] for name in ARKIT_CHANNELS]]
    pose = np.zeros((len(values), 6), np.float32)
    pose[:, 3:] = jaw_from_jaw_open(shapes[:, index["jawOpen"]])
    yaw, pitch, roll = (head * HEAD_UNITS[head_units]).T
    pose[:, :3] = head_rotation(yaw, pitch, roll)
    return exp.astype(np.float32), pose


def jaw_from_jaw_open(jaw_open: np.ndarray) -> np.ndarray:
    """ARKit jawOpen (0..1) -> jaw axis-angle (T, 3): rotation about +X (opening)."""
    jaw = np.zeros((len(jaw_open), 3), np.float32)
    jaw[:, 0] = np.clip(jaw_open, 0.0, 1.0) * ARKIT_JAW_OPEN_RADIANS
    return jaw


def head_rotation(yaw, pitch, roll) -> np.ndarray:
    """Head yaw (about +Y), pitch (about +X), roll (about +Z) in radians -> FLAME-frame
    axis-angle (T, 3). ARKit's face frame and FLAME's agree (Y up, +Z out of the face, +X
    toward the face's left), and the angles apply in that order: yaw, then pitch, then roll
    on the already turned head."""
    angles = np.stack([np.asarray(yaw), np.asarray(pitch), np.asarray(roll)], axis=-1)
    return Rotation.from_euler("YXZ", angles).as_rotvec().astype(np.float32)


def import_live_link_face(csv_path, audio_path, speaker: str, capture_fps: float | None = None,
                          head_units: str = "normalized", audio_offset_s: float = 0.0,
                          tolerance_s: float = 0.5):
    """Live Link Face take + its audio -> ``(Clip, audio16k, ImportReport)``.

    ``audio_offset_s``: how many seconds the audio starts before the first CSV row (its
    timecode); negative when it starts after.
    """
    take = read_live_link_csv(csv_path, capture_fps)
    exp, pose = live_link_motion(take, head_units)
    clip = Clip(exp=exp, pose=pose, expression_space="arkit", speaker=speaker, shape=None)
    return _attach_audio(clip, audio_path, audio_offset_s, tolerance_s, take.report)


# --- shared -------------------------------------------------------------------------------

def _resample(times: np.ndarray, values: np.ndarray, report: ImportReport, duration: float | None = None):
    """Linear interpolation of (N, C) samples at ``times`` (seconds) onto the 25 fps grid
    from 0 to ``duration`` (default: the last time); edges hold their values."""
    if len(times) < 2:
        raise SourceFormatError(f"{report.source}: fewer than two usable frames")
    duration = times[-1] if duration is None else duration
    grid = np.arange(int(math.floor(duration * FPS + 1e-6)) + 1) / FPS
    out = np.stack([np.interp(grid, times, values[:, c]) for c in range(values.shape[1])], axis=1)
    report.frames_out = len(grid)
    return out.astype(np.float32)


def _attach_audio(clip, audio_path, offset_s, tolerance_s, report):
    audio = load_audio(audio_path)
    shift = int(round(offset_s * SAMPLE_RATE))
    audio = audio[shift:] if shift >= 0 else np.pad(audio, (-shift, 0))
    difference = (frames_for_samples(len(audio)) - clip.frames) / FPS
    if abs(difference) > 1.0 / FPS:
        report.add("length_mismatch", f"audio is {difference:+.2f} s longer than the motion; "
                   "the longer one was cut to the shorter")
    clip, audio = match_length(clip, audio, tolerance_frames=max(1, int(round(tolerance_s * FPS))))
    report.frames_out = clip.frames
    return clip, audio, report


def default_audio_for(motion_path) -> Path:
    """The audio next to a motion file: same stem, .wav or .flac."""
    motion_path = Path(motion_path)
    for suffix in (".wav", ".flac"):
        candidate = motion_path.with_suffix(suffix)
        if candidate.exists():
            return candidate
    raise SourceFormatError(f"no audio next to {motion_path} (looked for .wav and .flac with the same name); "
                       "pass the audio file explicitly")
