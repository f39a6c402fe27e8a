"""How far a generated motion follows its style reference, property by property.

A controlled reference is a motion with one property changed the way an animator would
key it: head motion scaled about its mean, a constant smile or brow raise added, jaw
motion scaled. The model generates the same speech once with the unchanged reference and
once with the changed one; the output's property under the changed reference, relative
to the unchanged one (a ratio for motion amplitudes, a difference for offsets), says how
far the style moved it. The same measures describe speakers and presets.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..expression_spaces import ARKIT_CHANNELS
from ..motion_io import scale_head_motion
from ..timebase import FPS

SMILE = [ARKIT_CHANNELS.index(n) for n in ("mouthSmileLeft", "mouthSmileRight")]
BROW = [ARKIT_CHANNELS.index(n) for n in ("browInnerUp", "browOuterUpLeft", "browOuterUpRight")]
BLINK = [ARKIT_CHANNELS.index(n) for n in ("eyeBlinkLeft", "eyeBlinkRight")]
WINDOW = 100  # frames: head and jaw motion are measured within 4 s windows, as the model sees them


def _windowed_std(x: np.ndarray) -> float:
    """Mean over 100-frame windows of the spread about the window's mean (x (T, ...)):
    the motion inside a take, not its slow drift."""
    windows = [x[s: s + WINDOW] for s in range(0, max(1, len(x) - WINDOW + 1), WINDOW)]
    return float(np.mean([np.sqrt(((w - w.mean(axis=0)) ** 2).sum(axis=-1).mean()) if w.ndim > 1 else w.std()
                          for w in windows]))


def head_motion_deg(pose: np.ndarray) -> float:
    """RMS head rotation about its mean within 4 s windows, in degrees."""
    return float(np.degrees(_windowed_std(np.asarray(pose)[:, :3])))


def properties(motion: dict, fps: float = FPS) -> dict:
    """The style properties of an ARKit motion (exp (T, 50), pose (T, 6))."""
    exp, pose = np.asarray(motion["exp"]), np.asarray(motion["pose"])
    blink = exp[:, BLINK].mean(axis=1) > 0.5
    onsets = np.count_nonzero(blink[1:] & ~blink[:-1]) + int(blink[0])
    return {
        "head_motion_deg": head_motion_deg(pose),
        "head_speed_deg_s": float(np.degrees(np.linalg.norm(np.diff(pose[:, :3], axis=0), axis=1).mean() * fps)),
        "smile": float(exp[:, SMILE].mean()),
        "brow": float(exp[:, BROW].mean()),
        "jaw_motion": _windowed_std(pose[:, 3]),
        "blink_per_min": float(onsets / (len(exp) / fps / 60.0)),
    }


@dataclass(frozen=True)
class Edit:
    """One controlled change of a reference and how its effect on the output is read."""
    name: str
    prop: str  # the key of ``properties`` it changes
    relative: bool  # True: output ratio (changed / unchanged); False: output difference
    target: float  # what the output should reach: ratio at least (or at most) / difference at least
    at_most: bool = False

    def apply(self, motion: dict) -> dict:
        exp, pose = np.array(motion["exp"], np.float32), np.array(motion["pose"], np.float32)
        if self.name == "head x4":
            pose = scale_head_motion(pose, 4.0)
        elif self.name == "head x0.1":
            pose = scale_head_motion(pose, 0.1)
        elif self.name == "smile +0.5":
            exp[:, SMILE] = np.clip(exp[:, SMILE] + 0.5, 0.0, 1.0)
        elif self.name == "brows +0.4":
            exp[:, BROW] = np.clip(exp[:, BROW] + 0.4, 0.0, 1.0)
        elif self.name == "jaw x0.4":
            mean = pose[:, 3].mean()
            pose[:, 3] = mean + 0.4 * (pose[:, 3] - mean)
        else:
            raise ValueError(f"unknown edit {self.name!r}")
        return {**motion, "exp": exp, "pose": pose}

    def effect(self, changed: dict, unchanged: dict) -> float:
        a, b = changed[self.prop], unchanged[self.prop]
        return a / max(b, 1e-9) if self.relative else a - b

    def met(self, value: float) -> bool:
        return value <= self.target if self.at_most else value >= self.target


# The controlled references of issue 14 with their targets.
EDITS = (
    Edit("head x4", "head_motion_deg", True, 2.0),
    Edit("head x0.1", "head_motion_deg", True, 0.5, at_most=True),
    Edit("smile +0.5", "smile", False, 0.25),
    Edit("brows +0.4", "brow", False, 0.2),
    Edit("jaw x0.4", "jaw_motion", True, 0.7, at_most=True),
)


def transfer_effects(generate, references: list, edits=EDITS) -> dict:
    """Mean effect of each edit over ``references``.

    generate(style_motion) -> output motion (same speech, same seed for every call);
    references: motions (>= 100 frames) to edit. -> {edit name: mean effect}.
    """
    effects = {edit.name: [] for edit in edits}
    for reference in references:
        unchanged = properties(generate(reference))
        for edit in edits:
            effects[edit.name].append(edit.effect(properties(generate(edit.apply(reference))), unchanged))
    return {name: float(np.mean(values)) for name, values in effects.items()}


def transfer_score(effects: dict, edits=EDITS) -> float:
    """0..1: the mean over edits of how much of the way to its target the output went.

    Each edit's progress is the log-ratio (relative edits) or the difference reached over
    the target's, clipped to 0..1, so no single property can buy back another.
    """
    progress = []
    for edit in edits:
        value = effects[edit.name]
        if edit.relative:
            reached = np.log(max(value, 1e-6)) / np.log(edit.target)
        else:
            reached = value / edit.target
        progress.append(float(np.clip(reached, 0.0, 1.0)))
    return float(np.mean(progress))


def held_out_references(corpus, split: str, speakers: int) -> list:
    """(reference record, target record) for up to ``speakers`` speakers of ``split``: a
    speaker's first clip gives the reference, the first clip of the next speaker the speech
    to animate (the same clip when the split has one speaker)."""
    from ..data.format import read_manifest

    firsts: dict = {}
    for record in read_manifest(corpus, split):
        if record.frames >= WINDOW:
            firsts.setdefault(record.speaker, record)
    chosen = list(firsts.values())[:speakers]
    return [(record, chosen[(k + 1) % len(chosen)]) for k, record in enumerate(chosen)]


class TrueSpeech:
    """A held-out clip's audio with generation from its true phone times (no recognizer)."""

    def __init__(self, bundle, corpus, record, seconds: float):
        from pathlib import Path

        from ..data.format import load_audio, load_clip
        from .evaluate import crop_segments, features_for

        clip = load_clip(Path(corpus) / record.motion)
        self.frames = min(clip.frames, int(seconds * FPS))
        self.truth = {"exp": clip.exp[: self.frames], "pose": clip.pose[: self.frames]}
        self.audio = load_audio(Path(corpus) / record.audio, 0, self.frames)
        self.features = features_for(bundle, self.audio, true_phones=crop_segments(clip.phones or [], self.frames / FPS))
        self.bundle = bundle

    def generate(self, style=None, **generate_kwargs) -> dict:
        return self.bundle.generate(self.audio, style=style, speech_features=self.features, **generate_kwargs)[0]


def measure_transfer(bundle, corpus, split: str = "val", speakers: int = 2, seconds: float = 8.0,
                     base: str = "truth", edits=EDITS, **generate_kwargs) -> dict:
    """Mean effect of each edit over ``held_out_references`` (``transfer_effects``).

    base "truth": the reference speaker's own motion is edited; "take": the model's take of
    that speaker's speech without a style (what an animator gets and then keys). Speech
    comes from true phone times; generate_kwargs go to ``bundle.generate``.
    """
    effects = []
    for reference_record, target_record in held_out_references(corpus, split, speakers):
        reference_speech = TrueSpeech(bundle, corpus, reference_record, seconds)
        if base == "truth":
            reference = reference_speech.truth
        elif base == "take":
            reference = reference_speech.generate(**generate_kwargs)
        else:
            raise ValueError(f"base must be 'truth' or 'take', not {base!r}")
        target = TrueSpeech(bundle, corpus, target_record, seconds)
        effects.append(transfer_effects(
            lambda motion: target.generate(bundle.encode_style(motion), **generate_kwargs), [reference], edits))
    return {name: float(np.mean([e[name] for e in effects])) for name in effects[0]}


def controlled_table(bundle, corpus, split: str = "test", speakers: int = 4, seconds: float = 8.0,
                     scales=(2.0, 3.0)) -> str:
    """Markdown table of every edit's effect with its target, for references from the
    speakers' own motion ("truth") and from the model's take without a style ("take"), at
    the model's default guidance and at each style scale of ``scales``."""
    audio_scale, default_style = bundle.guidance_scales()
    columns = [(f"default (style {default_style:g})", default_style)] + [
        (f"style {s:g}", s) for s in scales if s != default_style]
    lines = ["| reference | edit | target | " + " | ".join(name for name, _ in columns) + " |",
             "|---|---|---|" + "---|" * len(columns)]
    for base in ("truth", "take"):
        results = [measure_transfer(bundle, corpus, split, speakers, seconds, base=base, audio_scale=audio_scale,
                                    style_scale=s) for _, s in columns]
        for edit in EDITS:
            sign = "<=" if edit.at_most else ">="
            target = f"{sign} {edit.target:g}x" if edit.relative else f"{sign} +{edit.target:g}"
            cells = []
            for result in results:
                value = result[edit.name]
                text = f"{value:.2f}x" if edit.relative else f"{value:+.2f}"
                cells.append(text if edit.met(value) else f"{text} (missed)")
            lines.append(f"| {base} | {edit.name} | {target} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
