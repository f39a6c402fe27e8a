"""Corrupt true phone timings the way the phone recognizer errs on real speech.

At training time the phones come from espeak's exact events; at inference they come from
pocketsphinx, which substitutes similar phones, drops short ones, inserts a few and places
boundaries tens of milliseconds off. Training on the corrupted truth teaches the model to
expect those errors without learning the recognizer's synthetic-voice-only mistakes.

The default rates were measured: pocketsphinx's phone loop against its own forced
alignment with the transcript, on 34 s of real read and spoken English (340 phones; see
docs/speech-frontend.md and benchmarks/speech_frontend.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.speech.phones import PHONES, SILENCE, tidy_segments

# Phones a recognizer confuses with each other: same manner of articulation, or vowels of
# similar height and rounding. A phone in two groups draws from both.
CONFUSION_GROUPS = (
    ("P", "B", "T", "D", "K", "G"),          # stops
    ("M", "N", "NG"),                        # nasals
    ("F", "V", "TH", "DH", "HH"),            # weak fricatives
    ("S", "Z", "SH", "ZH", "CH", "JH"),      # sibilants and affricates
    ("L", "R", "W", "Y", "ER"),              # approximants
    ("IY", "IH", "EY", "EH", "Y"),           # front vowels
    ("EH", "AE", "AH", "AA", "AY"),          # open vowels
    ("AA", "AO", "AH", "AW", "OW"),          # back open vowels
    ("UW", "UH", "OW", "OY", "W", "AO"),     # rounded vowels
    ("ER", "R", "AH", "UH"),                 # central vowels
    ("B", "M", "P"),                         # bilabials: the closure is shared
    ("F", "V"),                              # labiodentals
)
# Quiet consonants the recognizer often takes for a pause (measured 9-15% of their frames).
WEAK_PHONES = ("F", "V", "TH", "DH", "HH", "T", "K", "R")
_SPEECH = tuple(p for p in PHONES if p != SILENCE)
_NEIGHBOURS = {p: tuple(sorted({q for g in CONFUSION_GROUPS if p in g for q in g} - {p})) for p in _SPEECH}


@dataclass
class ErrorModel:
    """Rates of recognizer errors, per phone (silences are left alone).

    substitution: chance a phone is heard as another; within_group of those pick a phone of
    its ``CONFUSION_GROUPS``, the rest any phone (measured 0.29; 44% kept the mouth class).
    deletion_short / deletion_long: chance a phone shorter / not shorter than short_s is
    dropped, its time going to its neighbours (measured 0.26 for <= 50 ms, 0.07 above).
    insertion: chance an extra phone is heard inside a phone of at least 3 * min_s
    (measured 0.04). jitter_s: scale of the Laplace-distributed shift of each boundary
    (measured median absolute shift 10 ms, std 27 ms; with the other errors on top, 15 ms
    reproduces a median of 12 ms). min_s: shortest
    segment kept after jitter (pocketsphinx decodes 3 frames of 10 ms at least).
    silence: chance one of ``WEAK_PHONES`` is heard as silence (measured 0.09-0.15).
    """
    substitution: float = 0.29
    within_group: float = 0.7
    deletion_short: float = 0.26
    deletion_long: float = 0.07
    short_s: float = 0.05
    insertion: float = 0.04
    jitter_s: float = 0.015
    min_s: float = 0.03
    silence: float = 0.12

    def corrupt(self, segments, rng: np.random.Generator) -> list:
        """Corrupted copy of ``[(phone, start_s, end_s)]`` (contiguous, sorted)."""
        segments = tidy_segments(segments)
        if not segments:
            return []
        out = self._delete(list(segments), rng)
        out = self._insert(out, rng)
        out = [(self._substitute(p, rng), a, b) for p, a, b in out]
        return tidy_segments(self._jitter(out, rng), segments[-1][2])

    def _substitute(self, phone: str, rng) -> str:
        if phone in WEAK_PHONES and rng.random() < self.silence:
            return SILENCE
        if phone == SILENCE or rng.random() >= self.substitution:
            return phone
        if rng.random() < self.within_group and _NEIGHBOURS[phone]:
            return _NEIGHBOURS[phone][rng.integers(len(_NEIGHBOURS[phone]))]
        others = [q for q in _SPEECH if q != phone]
        return others[rng.integers(len(others))]

    def _delete(self, segments: list, rng) -> list:
        out = []
        for k, (phone, start, end) in enumerate(segments):
            rate = self.deletion_short if end - start < self.short_s else self.deletion_long
            if phone == SILENCE or rng.random() >= rate:
                out.append((phone, start, end))
                continue
            # the neighbours close over the gap, meeting in its middle
            middle = 0.5 * (start + end)
            has_next = k + 1 < len(segments)
            if out and out[-1][2] == start:
                out[-1] = (out[-1][0], out[-1][1], middle if has_next else end)
            if has_next:
                nxt = segments[k + 1]
                segments[k + 1] = (nxt[0], middle if out else start, nxt[2])
        return out

    def _insert(self, segments: list, rng) -> list:
        out = []
        for phone, start, end in segments:
            if phone == SILENCE or end - start < 3 * self.min_s or rng.random() >= self.insertion:
                out.append((phone, start, end))
                continue
            length = rng.uniform(self.min_s, (end - start) / 3)
            a = rng.uniform(start + self.min_s, end - self.min_s - length)
            extra = _SPEECH[rng.integers(len(_SPEECH))]
            out += [(phone, start, a), (extra, a, a + length), (phone, a + length, end)]
        return out

    def _jitter(self, segments: list, rng) -> list:
        if len(segments) < 2 or self.jitter_s <= 0:
            return segments
        bounds = np.array([s[1] for s in segments] + [segments[-1][2]])
        inner = bounds[1:-1] + rng.laplace(0.0, self.jitter_s, len(bounds) - 2)
        # keep every segment at least min_s long (or as long as it was, if shorter): jitter
        # moves boundaries, it never removes a phone
        lengths = np.diff(bounds)
        floor = np.minimum(lengths, max(self.min_s, 0.001))
        for i in range(len(inner)):
            lo = (bounds[0] if i == 0 else inner[i - 1]) + floor[i]
            inner[i] = max(inner[i], lo)
        for i in range(len(inner) - 1, -1, -1):
            hi = (bounds[-1] if i == len(inner) - 1 else inner[i + 1]) - floor[i + 1]
            inner[i] = min(inner[i], hi)
        bounds[1:-1] = inner
        return [(p, float(bounds[i]), float(bounds[i + 1])) for i, (p, _, _) in enumerate(segments)]

