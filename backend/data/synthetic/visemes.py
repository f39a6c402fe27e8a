"""Mouth motion from phone segments: ARKit viseme targets blended by dominance functions.

Every phone of ``backend.speech.phones.PHONES`` has a target: the 50 ARKit channels it
moves, the jaw angle (radians, positive opens) and a lip "seal" (1 = lips together,
which becomes mouthClose in proportion to the jaw opening so the lips meet whatever the
jaw does). Targets are blended over time with dominance functions (Cohen & Massaro's
coarticulation model): each segment pulls toward its target with a strength that is flat
over the segment and decays exponentially outside it, separately for the jaw and the
lips. Bilabials and labiodentals dominate strongly, rounding (pucker, funnel) spreads
far ahead (anticipatory rounding) while lip opening and the jaw stay near their
segments, lingual consonants barely hold the lips, so they take their
neighbours' shapes. The face leads the sound by the speaker's ``lead_s``.

Bilabials must close the lips: after blending, every frame inside a p/b/m (or the frame
nearest its middle, when it is shorter than a frame) is forced shut, with the jaw nearly
closed; likewise f/v bring the lower lip under the upper teeth with the jaw almost shut.
These frames are found in the sound's time, not the led one: the lips make the sound of a
p/b/m or f/v (the silence, the burst, the murmur, the friction), so the contact sits
inside the phone, however early the face starts moving toward it.
Silence rests closed (seal 1, jaw at the speaker's rest angle).
"""
from __future__ import annotations

import numpy as np

from ...expression_spaces import ARKIT_CHANNELS, ARKIT_JAW_OPEN_RADIANS
from ...speech.phones import PHONES, SILENCE, mouth_class
from ...timebase import FPS

N = len(ARKIT_CHANNELS)
JAW, SEAL = N, N + 1  # extra columns of the internal target vector
CH = {name: i for i, name in enumerate(ARKIT_CHANNELS)}
MOUTH = np.array([i for i, name in enumerate(ARKIT_CHANNELS) if name.startswith("mouth") or name == "cheekPuff"]
                 + [SEAL])
ROUND = np.array([CH["mouthPucker"], CH["mouthFunnel"]])
LIPS = np.array([i for i in MOUTH if i not in ROUND])
SHORT_DECAY_S = 0.05
PULLS = np.array([CH["mouthLowerDownLeft"], CH["mouthLowerDownRight"], CH["mouthUpperUpLeft"], CH["mouthUpperUpRight"]])
PRESS = np.array([CH["mouthPressLeft"], CH["mouthPressRight"]])

# Jaw angle (radians) and channel values; paired Left/Right shapes are given once by stem.
_TARGETS = {
    SILENCE: (0.0, {"seal": 1.0}),
    "AA": (0.26, {"mouthLowerDown": 0.30, "mouthUpperUp": 0.10, "mouthStretch": 0.05}),
    "AE": (0.20, {"mouthStretch": 0.25, "mouthLowerDown": 0.30, "mouthUpperUp": 0.20, "mouthSmile": 0.10}),
    "AH": (0.18, {"mouthLowerDown": 0.20, "mouthUpperUp": 0.05}),
    "AO": (0.22, {"mouthFunnel": 0.35, "mouthPucker": 0.10, "mouthLowerDown": 0.20}),
    "EH": (0.14, {"mouthStretch": 0.20, "mouthLowerDown": 0.20, "mouthUpperUp": 0.10}),
    "ER": (0.10, {"mouthFunnel": 0.30, "mouthPucker": 0.20, "mouthShrugUpper": 0.10}),
    "IH": (0.09, {"mouthStretch": 0.25, "mouthSmile": 0.15, "mouthLowerDown": 0.10}),
    "IY": (0.06, {"mouthStretch": 0.35, "mouthSmile": 0.25, "mouthUpperUp": 0.10}),
    "UH": (0.09, {"mouthPucker": 0.35, "mouthFunnel": 0.30}),
    "UW": (0.06, {"mouthPucker": 0.70, "mouthFunnel": 0.35}),
    "P": (0.01, {"seal": 1.0, "mouthPress": 0.40, "mouthRollLower": 0.15, "mouthRollUpper": 0.10, "cheekPuff": 0.06}),
    "B": (0.01, {"seal": 1.0, "mouthPress": 0.30, "mouthRollLower": 0.15, "mouthRollUpper": 0.10}),
    "M": (0.01, {"seal": 1.0, "mouthPress": 0.20, "mouthRollLower": 0.10, "mouthShrugLower": 0.10}),
    "F": (0.04, {"mouthRollLower": 0.55, "mouthUpperUp": 0.20, "mouthShrugUpper": 0.05}),
    "V": (0.04, {"mouthRollLower": 0.50, "mouthUpperUp": 0.18}),
    "TH": (0.07, {"mouthLowerDown": 0.15}),
    "DH": (0.06, {"mouthLowerDown": 0.12}),
    "S": (0.03, {"mouthStretch": 0.20, "mouthSmile": 0.10, "mouthUpperUp": 0.10, "mouthLowerDown": 0.10}),
    "Z": (0.03, {"mouthStretch": 0.18, "mouthSmile": 0.08, "mouthUpperUp": 0.10, "mouthLowerDown": 0.10}),
    "SH": (0.05, {"mouthFunnel": 0.50, "mouthPucker": 0.30, "mouthUpperUp": 0.20, "mouthLowerDown": 0.20}),
    "ZH": (0.05, {"mouthFunnel": 0.45, "mouthPucker": 0.30, "mouthUpperUp": 0.20, "mouthLowerDown": 0.20}),
    "CH": (0.05, {"mouthFunnel": 0.45, "mouthPucker": 0.35, "mouthUpperUp": 0.15, "mouthLowerDown": 0.15}),
    "JH": (0.05, {"mouthFunnel": 0.40, "mouthPucker": 0.30, "mouthUpperUp": 0.15, "mouthLowerDown": 0.15}),
    "T": (0.07, {"mouthLowerDown": 0.10}),
    "D": (0.07, {"mouthLowerDown": 0.10}),
    "N": (0.06, {"mouthLowerDown": 0.08}),
    "L": (0.08, {"mouthLowerDown": 0.10}),
    "K": (0.09, {}),
    "G": (0.09, {}),
    "NG": (0.08, {}),
    "HH": (0.12, {}),
    "R": (0.07, {"mouthPucker": 0.30, "mouthFunnel": 0.20}),
    "W": (0.04, {"mouthPucker": 0.80, "mouthFunnel": 0.30}),
    "Y": (0.05, {"mouthStretch": 0.20, "mouthSmile": 0.10}),
}
# Diphthongs glide between two targets; the first takes this share of the segment.
DIPHTHONGS = {"AW": ("AA", "UW"), "AY": ("AA", "IY"), "EY": ("EH", "IY"), "OW": ("AO", "UW"), "OY": ("AO", "IY")}
DIPHTHONG_SPLIT = 0.6

# (lip strength, jaw strength, decay before the segment s, decay after s)
_DOMINANCE = {
    "silence": (1.0, 1.0, 0.06, 0.06),
    "bilabial": (8.0, 3.0, 0.03, 0.03),
    "labiodental": (6.0, 4.0, 0.03, 0.03),
    "rounded": (2.5, 1.0, 0.12, 0.06),
    "open_vowel": (1.2, 2.5, 0.05, 0.05),
}
_DOMINANCE_OTHER = {"vowel": (1.2, 1.5, 0.05, 0.05), "postalveolar": (2.5, 1.0, 0.06, 0.05),
                    "sibilant": (1.5, 1.5, 0.04, 0.04), "lingual": (0.4, 0.6, 0.04, 0.04), "HH": (0.1, 0.2, 0.04, 0.04)}
_VOWELS = {"EH", "ER", "IH", "IY", "EY"}


def _dominance(phone):
    kind = mouth_class(phone)
    if kind != "other":
        return _DOMINANCE[kind]
    if phone in _VOWELS:
        return _DOMINANCE_OTHER["vowel"]
    if phone in ("SH", "ZH", "CH", "JH"):
        return _DOMINANCE_OTHER["postalveolar"]
    if phone in ("S", "Z"):
        return _DOMINANCE_OTHER["sibilant"]
    if phone == "HH":
        return _DOMINANCE_OTHER["HH"]
    return _DOMINANCE_OTHER["lingual"]


def _target_vector(phone):
    jaw, values = _TARGETS[phone]
    vector = np.zeros(N + 2, np.float32)
    vector[JAW] = jaw
    for stem, value in values.items():
        if stem == "seal":
            vector[SEAL] = value
        elif stem in CH:
            vector[CH[stem]] = value
        else:
            vector[CH[stem + "Left"]] = vector[CH[stem + "Right"]] = value
    return vector


TARGETS = {phone: _target_vector(phone) for phone in PHONES if phone not in DIPHTHONGS}
TARGETS.update({phone: TARGETS[first] for phone, (first, _) in DIPHTHONGS.items()})


def _expand(segments):
    """Split diphthongs into their two targets: [(target phone, class phone, start, end)]."""
    out = []
    for phone, start, end in segments:
        if phone in DIPHTHONGS:
            first, second = DIPHTHONGS[phone]
            middle = start + DIPHTHONG_SPLIT * (end - start)
            out += [(first, phone, start, middle), (second, phone, middle, end)]
        else:
            out.append((phone, phone, start, end))
    return out


def mouth_motion(segments, n_frames: int, style, stressed=(), fps: float = FPS):
    """Phone segments -> (mouth channels (T, 50) ARKit values, jaw angle (T,) radians).

    ``stressed``: start times of stressed vowels (they open 15 % wider). Only mouth
    channels (mouth*, cheekPuff) are non-zero in the returned expression.
    """
    parts = _expand(segments)
    times = (np.arange(n_frames) + 0.5) / fps + style.lead_s
    starts = np.array([p[2] for p in parts])[:, None]
    ends = np.array([p[3] for p in parts])[:, None]
    dominance = np.array([_dominance(p[1]) for p in parts], np.float64)
    targets = np.stack([TARGETS[p[0]] for p in parts]).astype(np.float64)
    stressed = set(np.round(stressed, 4))
    for k, part in enumerate(parts):
        if round(part[2], 4) in stressed:  # a diphthong's first half starts with it
            targets[k, JAW] *= 1.15
    before = np.clip(starts - times, 0.0, None)  # distance to the segment, 0 inside it
    after = np.clip(times - ends, 0.0, None)
    blended = np.empty((n_frames, N + 2))
    # rounding spreads far ahead; lip opening and the jaw follow their segments closely
    short = np.minimum(dominance[:, 2:4], SHORT_DECAY_S)
    for columns, strength, decays in ((ROUND, dominance[:, 0:1], dominance[:, 2:4]),
                                      (LIPS, dominance[:, 0:1], short),
                                      (np.array([JAW]), dominance[:, 1:2], short)):
        weight = strength * np.exp(-before / decays[:, 0:1] - after / decays[:, 1:2]) + 1e-12
        blended[:, columns] = (weight.T @ targets[:, columns]) / weight.sum(axis=0)[:, None]

    lips_scale = style.amplitude / np.sqrt(style.jaw_ratio)
    exp = np.zeros((n_frames, N), np.float32)
    mouth_channels = MOUTH[MOUTH < N]
    exp[:, mouth_channels] = blended[:, mouth_channels] * lips_scale
    jaw = style.rest_jaw + blended[:, JAW] * style.amplitude * style.jaw_ratio
    seal = blended[:, SEAL]

    sound_times = times - style.lead_s
    for phone, start, end in segments:
        kind = mouth_class(phone)
        if kind not in ("bilabial", "labiodental"):
            continue
        inside = np.flatnonzero((sound_times >= start) & (sound_times < end))
        if len(inside) == 0:
            inside = [int(np.argmin(np.abs(sound_times - (start + end) / 2)))]
        target = TARGETS[phone]
        for k in inside:
            if kind == "bilabial":  # lips pressed together
                jaw[k] = min(jaw[k], style.rest_jaw + 0.01)
                seal[k] = 1.0
                exp[k, PULLS] = 0.0
                exp[k, PRESS] = np.maximum(exp[k, PRESS], target[PRESS])
            else:  # lower lip under the upper teeth
                jaw[k] = min(jaw[k], style.rest_jaw + 0.04)
                exp[k, PULLS[:2]] = 0.0
                exp[k, CH["mouthRollLower"]] = max(exp[k, CH["mouthRollLower"]], 0.8 * target[CH["mouthRollLower"]])
    exp[:, CH["mouthClose"]] = np.clip(seal, 0.0, 1.0) * np.clip(jaw / ARKIT_JAW_OPEN_RADIANS, 0.0, 1.0)
    return np.clip(exp, 0.0, 1.0), jaw.astype(np.float32)


def lip_aperture(exp: np.ndarray, jaw: np.ndarray) -> np.ndarray:
    """How far apart the lips are (0 = shut), per frame, from ARKit values and the jaw:
    the jaw opening not cancelled by mouthClose plus the lips' own up/down pulls."""
    jaw_open = np.clip(np.asarray(jaw) / ARKIT_JAW_OPEN_RADIANS, 0.0, 1.0)
    unsealed = np.clip(jaw_open - exp[:, CH["mouthClose"]], 0.0, None)
    pulls = (exp[:, CH["mouthLowerDownLeft"]] + exp[:, CH["mouthLowerDownRight"]]
             + exp[:, CH["mouthUpperUpLeft"]] + exp[:, CH["mouthUpperUpRight"]]) / 4
    return unsealed + pulls
