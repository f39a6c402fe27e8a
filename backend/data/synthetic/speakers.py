"""Synthetic speakers: an espeak-ng voice plus a facial style, drawn from a seed.

Every speaker keeps one accent and voice variant with its own base rate, pitch and pitch
range (sentences jitter around them), and one style: how wide it articulates, how much
it uses the jaw against the lips, its smile, brows, asymmetry, blinking and head motion.
The styles span what an animator asks for: heads from almost still to lively, faces from
a frown to a broad smile, brows from resting to raised, small to wide jaws, slow to fast
talkers, so that a reference with any of these properties has training speakers near it.
Validation and test speakers use voice variants that no training speaker uses, so the
held-out splits measure unseen voices.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

ACCENTS = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
           "en-us-nyc", "en-029")
# Variants whose sound is too far from a human voice to teach lip sync.
EXCLUDED_VARIANTS = ("Demonic", "UniRobot", "anikaRobot")
HELD_OUT_FRACTION = 0.12


@dataclass(frozen=True)
class Voice:
    accent: str
    variant: str
    rate: int  # words per minute
    pitch: int  # 0-100
    pitch_range: int  # 0-100


@dataclass(frozen=True)
class Style:
    amplitude: float  # articulation size (1 = table values)
    jaw_ratio: float  # > 1 opens the jaw more and moves the lips less
    lead_s: float  # how far the face anticipates the sound
    rest_jaw: float  # jaw angle at rest (radians), lips still closed
    smile: float  # baseline smile 0..1
    brow: float  # brow raises on emphasis 0..1
    brow_rest: float  # brows held raised all the time 0..1
    frown: float  # brow lowering instead of raising 0..1
    asymmetry: float  # left/right imbalance of paired shapes, -0.25..0.25
    blink_per_min: float
    gaze: float  # how far and often the eyes wander 0..1
    head_energy: float  # scale of head motion (1: about 2.5 degrees RMS within 4 s)
    nod: float  # probability of a nod on an accent
    head_smooth_s: float  # head inertia
    head_bias: tuple  # resting head yaw, pitch, roll (radians); each clip varies around it


@dataclass(frozen=True)
class Speaker:
    id: str
    split: str
    voice: Voice
    style: Style

    def to_dict(self) -> dict:
        return asdict(self)


def variant_pools(variants, seed: int):
    """(train variants, held-out variants): a seeded, stable split of espeak's variants."""
    usable = sorted(v for v in variants if v not in EXCLUDED_VARIANTS)
    order = np.random.default_rng([seed, 7]).permutation(len(usable))
    n_held = max(1, int(round(len(usable) * HELD_OUT_FRACTION)))
    held = sorted(usable[i] for i in order[:n_held])
    return [v for v in usable if v not in held], held


def make_speaker(seed: int, index: int, split: str, variants: list) -> Speaker:
    """Speaker ``index`` of the corpus drawn from ``seed``; ``variants`` is its split's pool."""
    rng = np.random.default_rng([seed, 1, index])
    u = rng.uniform
    voice = Voice(
        accent=str(rng.choice(ACCENTS)),
        variant=str(rng.choice(variants)),
        # one speaker in three talks fast: the closures of fast speech are short
        rate=int(u(220, 300) if rng.random() < 1 / 3 else u(125, 230)),
        pitch=int(u(20, 80)),
        pitch_range=int(u(15, 95)),
    )
    style = Style(
        amplitude=float(u(0.6, 1.4)),
        jaw_ratio=float(np.exp(u(-0.4, 0.4))),
        lead_s=float(u(0.01, 0.07)),
        rest_jaw=float(u(0.0, 0.03)),
        smile=float(u(0.0, 0.8) ** 1.5),
        brow=float(u(0.0, 1.0)),
        brow_rest=float(u(0.0, 0.7) ** 1.5),
        frown=float(u(0.0, 0.6) if rng.random() < 0.3 else 0.0),
        asymmetry=float(u(-0.25, 0.25)),
        blink_per_min=float(u(4, 36)),
        gaze=float(u(0.1, 1.0)),
        # log-uniform: as many near-still heads as lively ones (about 0.4 to 6 degrees RMS)
        head_energy=float(np.exp(u(np.log(0.15), np.log(2.4)))),
        nod=float(u(0.1, 0.9)),
        head_smooth_s=float(u(0.08, 0.3)),
        head_bias=tuple(float(x) for x in rng.normal(0.0, [0.04, 0.04, 0.03])),
    )
    return Speaker(id=f"syn{index:04d}", split=split, voice=voice, style=style)
