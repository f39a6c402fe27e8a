"""Lip-sync measures that need only the audio and its phone times, not ground-truth motion.

Input: the mouth opening per frame (inner-lip distance in mm, from a head's landmarks),
the phone segments of the speech (``(phone, start_s, end_s)`` in the shared phone set) and
the audio. The thresholds are in mm on the head the opening was measured on; the defaults
suit a human-sized head (the built-in head, FLAME).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..speech.phones import mouth_class
from ..timebase import FPS, SAMPLE_RATE

# A bilabial counts as closed when the lips come within this distance (mm) anywhere in it.
CLOSED_MM = 2.0
# An open vowel counts as open when the lips part by at least this much (mm) in it.
OPEN_MM = 6.0
# Silences shorter than this (s) are coarticulation gaps, not rests.
REST_MIN_S = 0.4


@dataclass
class LipSyncReport:
    bilabials: int
    bilabials_closed: float  # fraction of bilabial segments whose minimum opening <= CLOSED_MM
    open_vowels: int
    open_vowels_open: float  # fraction of open-vowel segments whose maximum opening >= OPEN_MM
    bilabial_opening_mm: float  # median of the per-segment minimum opening
    open_vowel_opening_mm: float  # median of the per-segment maximum opening
    rest_frames: int
    rest_closed: float  # fraction of frames inside long silences with opening <= CLOSED_MM
    envelope_correlation: float  # Pearson r of opening with the speech envelope

    def as_dict(self) -> dict:
        return asdict(self)


def _frames(start_s: float, end_s: float, fps: float, n_frames: int) -> slice:
    first = int(np.floor(start_s * fps))
    last = max(first + 1, int(np.ceil(end_s * fps)))
    return slice(max(0, first), min(n_frames, last))


def speech_envelope(audio: np.ndarray, sample_rate: int, n_frames: int, fps: float) -> np.ndarray:
    """RMS level (dB) per motion frame."""
    hop = sample_rate / fps
    out = np.empty(n_frames)
    for i in range(n_frames):
        chunk = audio[int(i * hop): int((i + 1) * hop)]
        out[i] = 10 * np.log10(np.mean(chunk**2) + 1e-10) if len(chunk) else -100.0
    return out


def lipsync_report(opening_mm, segments, audio, sample_rate=SAMPLE_RATE, fps=FPS,
                   closed_mm=CLOSED_MM, open_mm=OPEN_MM) -> LipSyncReport:
    opening_mm = np.asarray(opening_mm, dtype=np.float64)
    n = len(opening_mm)
    bilabial_minima, vowel_maxima, rest = [], [], []
    for phone, start, end in segments:
        frames = opening_mm[_frames(start, end, fps, n)]
        if not len(frames):
            continue
        kind = mouth_class(phone)
        if kind == "bilabial":
            bilabial_minima.append(frames.min())
        elif kind == "open_vowel":
            vowel_maxima.append(frames.max())
        elif kind == "silence" and end - start >= REST_MIN_S:
            # The mouth may still be closing or opening at a silence's edges.
            inner = opening_mm[_frames(start + 0.12, end - 0.12, fps, n)]
            rest.extend(inner.tolist())
    envelope = speech_envelope(np.asarray(audio, dtype=np.float64), sample_rate, n, fps)
    voiced = envelope > envelope.max() - 50
    if voiced.sum() > 2 and opening_mm[voiced].std() > 0 and envelope[voiced].std() > 0:
        correlation = float(np.corrcoef(opening_mm[voiced], envelope[voiced])[0, 1])
    else:
        correlation = 0.0

    def fraction(values, predicate):
        return float(np.mean([predicate(v) for v in values])) if values else float("nan")

    return LipSyncReport(
        bilabials=len(bilabial_minima),
        bilabials_closed=fraction(bilabial_minima, lambda v: v <= closed_mm),
        open_vowels=len(vowel_maxima),
        open_vowels_open=fraction(vowel_maxima, lambda v: v >= open_mm),
        bilabial_opening_mm=float(np.median(bilabial_minima)) if bilabial_minima else float("nan"),
        open_vowel_opening_mm=float(np.median(vowel_maxima)) if vowel_maxima else float("nan"),
        rest_frames=len(rest),
        rest_closed=fraction(rest, lambda v: v <= closed_mm),
        envelope_correlation=correlation,
    )
