"""The rest of the face around the mouth: head motion, blinks, gaze, brows and smile.

Head motion follows the speech: the chin rises and falls with the voice's pitch (head
motion correlates strongly with pitch and loudness, Munhall et al. 2004), nods on
accented syllables (stressed vowels, weighted by how loud and high they are in the
signal), a new head position at phrase boundaries, a slow drift that calms down in
silence, a chin lift and tilt at the end of questions, larger moves in exclamations. All
of it scales with the speaker's head energy, and the resting orientation varies a little
from clip to clip around the speaker's own (a posture, not a style). Blinks come at the
speaker's rate and cluster at phrase boundaries; the eyes jump between fixations; brows rise (or for some speakers lower) on
accents and questions, the eyes widen in exclamations, the mouth corners drop at the end
of some statements; the smile wanders slowly around the speaker's own level.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import lfilter

from ...speech.prosody import prosody
from ...timebase import FPS
from ..importers import head_rotation
from .visemes import CH

MAX_JAW = 0.42  # radians: wide speakers on open vowels stop at a jaw that still looks human
PAIRED = [(CH[name], CH[name[:-4] + "Right"]) for name in CH if name.endswith("Left")
          and not name.startswith("eyeLook")]


def _bump(n_frames, center_s, width_s, height):
    """A raised-cosine bump of ``height`` (width = full duration) on the frame grid."""
    t = (np.arange(n_frames) + 0.5) / FPS
    x = np.clip((t - center_s) / (width_s / 2), -1.0, 1.0)
    return height * 0.5 * (1 + np.cos(np.pi * x))


def _ou(rng, n_frames, sigma, tau_s):
    """Ornstein-Uhlenbeck noise: stationary std ``sigma``, correlation time ``tau_s``."""
    a = np.exp(-1.0 / (FPS * tau_s))
    noise = rng.normal(0.0, sigma * np.sqrt(1 - a * a), n_frames)
    start = rng.normal(0.0, sigma)
    return lfilter([1.0], [1.0, -a], noise, zi=[a * start])[0]  # x[k] = a x[k-1] + noise[k]


def accents(features, stressed):
    """(time, strength) of accented syllables: stressed vowels, stronger when loud and high.

    features: ``prosody`` of the audio (energy in units of 20 dB below the loud frames,
    pitch in octaves). Strength is about 1 for a typical accent, up to 2.5 for a loud, high one.
    """
    energy, pitch = features[:, 0], features[:, 3]
    out = []
    for time in stressed:
        k = min(int(time * FPS), len(features) - 1)
        out.append((float(time), float(np.clip(1.0 + 1.5 * (energy[k] + 0.3) + pitch[k], 0.3, 2.5))))
    return out


def animate(mouth_exp, jaw, style, rng, audio, segments, stressed, sentences):
    """Full motion: ``mouth_exp`` (T, 50) and ``jaw`` (T,) from ``visemes.mouth_motion`` plus
    the rest of the face -> (exp (T, 50) ARKit 0..1, pose (T, 6) axis-angle).

    ``sentences``: [(start_s, end_s, kind)] with kind "statement" | "question" | "exclamation".
    """
    n = len(jaw)
    exp = mouth_exp.astype(np.float64).copy()
    voice = prosody(audio)
    accent_list = accents(voice, stressed)
    pauses = [(s, e) for p, s, e in segments if p == "SIL" and e - s >= 0.15]
    boundaries = [s for s, e in pauses if s > 0.05] + [e for s, e in pauses if e < n / FPS - 0.05]
    speech = np.zeros(n, bool)
    for p, s, e in segments:
        if p != "SIL":
            speech[int(s * FPS):int(np.ceil(e * FPS))] = True
    energy = style.head_energy

    # head: yaw, pitch (+ nods down), roll
    head = np.zeros((n, 3))
    calm = np.where(gaussian_filter1d(speech.astype(float), 8) > 0.3, 1.0, 0.5)
    for axis, sigma in enumerate((0.05, 0.03, 0.02)):
        head[:, axis] = _ou(rng, n, sigma * energy, 1.5) * calm
    offset = rng.normal(0.0, [0.03, 0.015, 0.02]) * energy
    last = 0
    for boundary in sorted(boundaries):  # a new resting position after each phrase
        k = min(int(boundary * FPS), n)
        head[last:k] += offset
        offset = rng.normal(0.0, [0.03, 0.015, 0.02]) * energy
        last = k
    head[last:] += offset
    kinds = {}
    for start, end, kind in sentences:
        kinds.update({round(t, 3): kind for t, _ in accent_list if start <= t < end})
        if kind == "question":
            head[:, 1] -= _bump(n, end - 0.2, 0.8, 0.03 * energy)  # chin up
            head[:, 2] += _bump(n, end - 0.2, 0.8, rng.choice([-1, 1]) * 0.03 * energy)
    for time, strength in accent_list:
        boost = 1.5 if kinds.get(round(time, 3)) == "exclamation" else 1.0
        if rng.random() < style.nod:
            head[:, 1] += _bump(n, time + 0.05, rng.uniform(0.25, 0.45), 0.02 * energy * min(strength, 1.5) * boost)
        if rng.random() < 0.3:
            head[:, 0] += _bump(n, time, rng.uniform(0.3, 0.6), rng.normal(0, 0.015) * energy * boost)
        brow_height = style.brow * 0.3 * strength * boost
        if style.frown > 0 and rng.random() < style.frown:
            for name in ("browDownLeft", "browDownRight"):
                exp[:, CH[name]] += _bump(n, time, 0.5, brow_height)
        elif rng.random() < style.brow:
            exp[:, CH["browInnerUp"]] += _bump(n, time, 0.5, brow_height)
            for name in ("browOuterUpLeft", "browOuterUpRight"):
                exp[:, CH[name]] += _bump(n, time, 0.5, 0.7 * brow_height)
    # the chin follows the pitch contour of voiced speech (pitch axis: positive nods down)
    pitch = np.where(voice[:n, 2] > 0.5, voice[:n, 3], 0.0)
    head[: len(pitch), 1] -= 0.06 * energy * gaussian_filter1d(pitch, 3.0)
    posture = rng.normal(0.0, [0.03, 0.03, 0.02])
    head = gaussian_filter1d(head, style.head_smooth_s * FPS, axis=0, mode="nearest") + np.array(style.head_bias) + posture

    # brows up on questions, eyes wide on exclamations, corners down at some statement ends;
    # a frowner's resting brow and mouth
    wide = np.zeros(n)
    frown = np.full(n, 0.15 * style.frown)
    for start, end, kind in sentences:
        if kind == "question":
            exp[:, CH["browInnerUp"]] += _bump(n, end - 0.3, 1.0, 0.2 + 0.3 * style.brow)
            wide += _bump(n, end - 0.3, 0.8, 0.1 * style.brow)
        elif kind == "exclamation":
            wide += _bump(n, (start + end) / 2, end - start + 0.3, rng.uniform(0.1, 0.4) * (0.3 + style.brow))
        elif rng.random() < 0.3:
            frown += _bump(n, end, 0.8, rng.uniform(0.05, 0.25))
    exp[:, [CH["browDownLeft"], CH["browDownRight"]]] += 0.3 * style.frown
    exp[:, CH["browInnerUp"]] += style.brow_rest
    exp[:, [CH["browOuterUpLeft"], CH["browOuterUpRight"]]] += 0.8 * style.brow_rest
    exp[:, [CH["eyeWideLeft"], CH["eyeWideRight"]]] += wide[:, None]
    exp[:, [CH["mouthFrownLeft"], CH["mouthFrownRight"]]] += frown[:, None]

    # smile and what comes with it
    smile = style.smile + _ou(rng, n, 0.05, 3.0)
    for start, end, kind in sentences:
        if kind == "exclamation":
            smile += _bump(n, (start + end) / 2, end - start + 0.6, 0.15)
    smile = np.clip(smile, 0.0, 1.0)
    for name, gain in (("mouthSmile", 1.0), ("cheekSquint", 0.4), ("eyeSquint", 0.25), ("mouthDimple", 0.2),
                       ("noseSneer", 0.08)):
        for side in ("Left", "Right"):
            exp[:, CH[name + side]] += gain * smile

    # blinks: the speaker's rate, more at phrase boundaries, never two within 0.6 s
    times = list(np.cumsum(rng.exponential(60.0 / style.blink_per_min, 64)))
    times += [b for b in boundaries if rng.random() < 0.4]
    profile = np.array([0.55, 1.0, 0.75, 0.4, 0.12])
    previous = -1.0
    for time in sorted(times):
        k = int(time * FPS)
        if k >= n or time - previous < 0.6:
            continue
        previous = time
        span = profile[: n - k] * rng.uniform(0.85, 1.0)
        for name in ("eyeBlinkLeft", "eyeBlinkRight"):
            exp[k:k + len(span), CH[name]] = np.maximum(exp[k:k + len(span), CH[name]], span)

    # gaze: fixations held between quick jumps
    k = 0
    while k < n:
        hold = max(2, int(rng.exponential(1.5 / (0.3 + style.gaze)) * FPS))
        h, v = rng.normal(0.0, 0.15 * style.gaze), rng.normal(-0.02, 0.08 * style.gaze)
        sl = slice(k, min(n, k + hold))
        left, right = ("eyeLookOutLeft", "eyeLookInRight") if h > 0 else ("eyeLookInLeft", "eyeLookOutRight")
        exp[sl, CH[left]] += abs(h)
        exp[sl, CH[right]] += abs(h)
        for name in (("eyeLookUpLeft", "eyeLookUpRight") if v > 0 else ("eyeLookDownLeft", "eyeLookDownRight")):
            exp[sl, CH[name]] += abs(v)
        k += hold

    # small wandering of jaw and mouth sideways
    for name, sigma in (("jawForward", 0.02), ("jawLeft", 0.02), ("jawRight", 0.02), ("mouthLeft", 0.03),
                        ("mouthRight", 0.03)):
        exp[:, CH[name]] += np.abs(_ou(rng, n, sigma, 1.0))

    for left, right in PAIRED:
        exp[:, left] *= 1 + style.asymmetry
        exp[:, right] *= 1 - style.asymmetry

    pose = np.zeros((n, 6), np.float32)
    pose[:, :3] = head_rotation(head[:, 0], head[:, 1], head[:, 2])
    pose[:, 3] = np.minimum(jaw, MAX_JAW)
    return np.clip(exp, 0.0, 1.0).astype(np.float32), pose
