"""The training corpus on disk: clips (audio + motion .npz) and a manifest of them.

A corpus is a folder::

    corpus/
      manifest.jsonl          one JSON object per clip (see ``ClipRecord``)
      stats.npz               normalization statistics (``backend.data.stats``)
      clips/<speaker>/<clip id>.flac   16 kHz mono audio (.wav works too)
      clips/<speaker>/<clip id>.npz    motion at 25 fps (see ``Clip``)

Frame k of a motion covers audio samples [k * 640, (k + 1) * 640): a clip of n samples
has T = round(n / 640) frames, the same rule ``backend.speech.features`` uses. Splits
(train/val/test) are per speaker so that no voice or face style leaks between them.
docs/dataset.md is the normative description.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from .. import audio_io
from ..atomic_files import write_atomically
from ..expression_spaces import EXPRESSION_DIM, SPACES
from ..timebase import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME

POSE_DIM = 6  # head axis-angle (3), jaw axis-angle (3)
SHAPE_DIM = 100
SPLITS = ("train", "val", "test")
MANIFEST_NAME = "manifest.jsonl"
AUDIO_SUFFIXES = (".flac", ".wav")


class DatasetFormatError(ValueError):
    """A clip, manifest or stats file does not follow docs/dataset.md."""


def frames_for_samples(n_samples: int) -> int:
    return int(round(n_samples / SAMPLES_PER_FRAME))


@dataclass
class Clip:
    """One motion clip at 25 fps.

    ``phones`` holds the true phone segments ``(phone, start_s, end_s)`` when they are
    known (synthetic speech), in the phone set of ``backend.speech.phones``.
    """

    exp: np.ndarray  # (T, 50) float32
    pose: np.ndarray  # (T, 6) float32
    expression_space: str
    speaker: str
    shape: np.ndarray | None = None  # (100,) float32
    phones: list | None = None
    fps: float = FPS

    def __post_init__(self):
        self.exp = np.asarray(self.exp, dtype=np.float32)
        self.pose = np.asarray(self.pose, dtype=np.float32)
        if self.shape is not None:
            self.shape = np.asarray(self.shape, dtype=np.float32)
        self.validate()

    @property
    def frames(self) -> int:
        return self.exp.shape[0]

    def validate(self):
        if self.expression_space not in SPACES:
            raise DatasetFormatError(
                f"expression_space {self.expression_space!r} is not one of {sorted(SPACES)}")
        if self.exp.ndim != 2 or self.exp.shape[1] != EXPRESSION_DIM:
            raise DatasetFormatError(f"exp must be (T, {EXPRESSION_DIM}), got {self.exp.shape}")
        if self.pose.shape != (self.exp.shape[0], POSE_DIM):
            raise DatasetFormatError(
                f"pose must be (T, {POSE_DIM}) with T = {self.exp.shape[0]} like exp, got {self.pose.shape}")
        if self.shape is not None and self.shape.shape != (SHAPE_DIM,):
            raise DatasetFormatError(f"shape must be ({SHAPE_DIM},), got {self.shape.shape}")
        if not (np.isfinite(self.exp).all() and np.isfinite(self.pose).all()):
            raise DatasetFormatError("exp and pose must be finite; fix or drop the bad frames first")
        if self.fps != FPS:
            raise DatasetFormatError(f"clips are stored at {FPS:g} fps, got {self.fps:g}; resample first")
        if not self.speaker:
            raise DatasetFormatError("a clip needs a speaker id")


def save_clip(path, clip: Clip):
    """Write ``clip`` as an .npz (no pickled objects, so it loads with allow_pickle=False)."""
    clip.validate()
    arrays = {
        "exp": clip.exp, "pose": clip.pose, "fps": np.float32(clip.fps),
        "expression_space": np.str_(clip.expression_space), "speaker": np.str_(clip.speaker),
    }
    if clip.shape is not None:
        arrays["shape"] = clip.shape
    if clip.phones is not None:
        arrays["phone_names"] = np.array([p for p, _, _ in clip.phones], dtype=np.str_)
        arrays["phone_times"] = np.array([(s, e) for _, s, e in clip.phones], dtype=np.float64).reshape(-1, 2)
    write_atomically(Path(path), lambda handle: np.savez(handle, **arrays))


def load_clip(path) -> Clip:
    try:
        with np.load(path, allow_pickle=False) as data:
            phones = None
            if "phone_names" in data:
                phones = [(str(p), float(s), float(e))
                          for p, (s, e) in zip(data["phone_names"], data["phone_times"])]
            return Clip(
                exp=data["exp"], pose=data["pose"],
                expression_space=str(data["expression_space"]), speaker=str(data["speaker"]),
                shape=data["shape"] if "shape" in data else None, phones=phones,
                fps=float(data["fps"]),
            )
    except KeyError as error:
        raise DatasetFormatError(f"{path}: missing array {error}; see docs/dataset.md") from None


def load_audio(path, start_frame: int = 0, frames: int | None = None) -> np.ndarray:
    """Mono float32 audio at 16 kHz; ``start_frame``/``frames`` (25 fps frames) read a part."""
    start = start_frame / FPS
    end = None if frames is None else (start_frame + frames) / FPS
    return audio_io.load_audio(path, start, end, min_seconds=0.0)


def save_audio(path, audio: np.ndarray):
    """16 kHz mono, 16-bit; the format follows the suffix (.flac or .wav)."""
    path = Path(path)
    if path.suffix not in AUDIO_SUFFIXES:
        raise DatasetFormatError(f"audio must be one of {AUDIO_SUFFIXES}, got {path.name}")
    audio = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    fmt = "FLAC" if path.suffix == ".flac" else "WAV"
    write_atomically(path, lambda handle: sf.write(handle, audio, SAMPLE_RATE, format=fmt, subtype="PCM_16"))


def match_length(clip: Clip, audio: np.ndarray, tolerance_frames: int = 2):
    """Trim the longer of motion and audio so that T == round(len(audio) / 640).

    Recordings rarely end on the same sample; more than ``tolerance_frames`` of
    difference means they do not belong together, which is an error.
    """
    frames_audio = frames_for_samples(len(audio))
    if abs(frames_audio - clip.frames) > tolerance_frames:
        raise DatasetFormatError(
            f"audio has {frames_audio} frames of motion time but the motion has {clip.frames}; "
            "check that they are the same take (or pass an audio offset)")
    frames = min(frames_audio, clip.frames)
    audio = audio[: frames * SAMPLES_PER_FRAME]
    if frames_for_samples(len(audio)) != frames:  # audio shorter by under half a frame
        audio = np.pad(audio, (0, frames * SAMPLES_PER_FRAME - len(audio)))
    clip.exp, clip.pose = clip.exp[:frames], clip.pose[:frames]
    return clip, audio


@dataclass
class ClipRecord:
    """One manifest line. Paths are relative to the corpus folder."""

    id: str
    speaker: str
    split: str
    audio: str
    motion: str
    frames: int
    expression_space: str
    source: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.frames / FPS


def clip_paths(root, speaker: str, clip_id: str, audio_suffix: str = ".flac"):
    """(audio, motion) paths of a clip, relative to the corpus root."""
    folder = Path("clips") / speaker
    return folder / f"{clip_id}{audio_suffix}", folder / f"{clip_id}.npz"


def write_manifest(root, records):
    lines = []
    for record in sorted(records, key=lambda r: (r.speaker, r.id)):
        if record.split not in SPLITS:
            raise DatasetFormatError(f"clip {record.id}: split {record.split!r} is not one of {SPLITS}")
        lines.append(json.dumps(asdict(record), sort_keys=True))
    write_atomically(Path(root) / MANIFEST_NAME, lambda handle: handle.write(("\n".join(lines) + "\n").encode()))


def read_manifest(root, split: str | None = None) -> list[ClipRecord]:
    path = Path(root) / MANIFEST_NAME
    if not path.exists():
        raise DatasetFormatError(f"{path} not found: import or generate a corpus into {root} first")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = ClipRecord(**json.loads(line))
        except (TypeError, json.JSONDecodeError) as error:
            raise DatasetFormatError(f"{path}:{number}: not a clip record ({error})") from None
        if split is None or record.split == split:
            records.append(record)
    return records


def assign_splits(speakers, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0) -> dict:
    """Speaker -> split. Deterministic in (set of speakers, seed); every split that has a
    non-zero fraction gets at least one speaker when there are three or more."""
    speakers = sorted(set(speakers))
    order = np.random.default_rng(seed).permutation(len(speakers))
    n = len(speakers)
    n_test = int(round(n * test_fraction)) or (1 if test_fraction > 0 and n >= 3 else 0)
    n_val = int(round(n * val_fraction)) or (1 if val_fraction > 0 and n >= 3 else 0)
    splits = {}
    for rank, index in enumerate(order):
        splits[speakers[index]] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return splits


def write_clip(root, clip_id: str, clip: Clip, audio: np.ndarray, split: str, source: str = "",
               meta: dict | None = None, audio_suffix: str = ".flac") -> ClipRecord:
    """Write a clip's audio and motion under ``root`` and return its manifest record.

    The motion is written last, so a clip whose .npz exists is complete (resuming relies
    on it).
    """
    if frames_for_samples(len(audio)) != clip.frames:
        raise DatasetFormatError(
            f"clip {clip_id}: {clip.frames} frames but audio for {frames_for_samples(len(audio))}; "
            "use match_length first")
    audio_path, motion_path = clip_paths(root, clip.speaker, clip_id, audio_suffix)
    save_audio(Path(root) / audio_path, audio)
    save_clip(Path(root) / motion_path, clip)
    return ClipRecord(id=clip_id, speaker=clip.speaker, split=split, audio=audio_path.as_posix(),
                      motion=motion_path.as_posix(), frames=clip.frames,
                      expression_space=clip.expression_space, source=source, meta=dict(meta or {}))


def merge_manifest(root, records) -> list[ClipRecord]:
    """Add ``records`` to the corpus manifest (replacing clips with the same id).

    Splits are per speaker: a speaker already in the manifest keeps its split, and a
    record that puts it in another split is an error.
    """
    path = Path(root) / MANIFEST_NAME
    existing = {r.id: r for r in read_manifest(root)} if path.exists() else {}
    split_of = {r.speaker: r.split for r in existing.values()}
    for record in records:
        known = split_of.setdefault(record.speaker, record.split)
        if known != record.split:
            raise DatasetFormatError(
                f"speaker {record.speaker!r} is in split {known!r}; clip {record.id} cannot go to "
                f"{record.split!r} (splits are per speaker)")
        existing[record.id] = record
    merged = list(existing.values())
    write_manifest(root, merged)
    return merged
