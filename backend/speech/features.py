"""Frame features at 25 fps: which phones are heard, how the mouth is shaped, and prosody.

Layout of each (T, FEATURE_DIM) row, the same at training and at inference:
- ``PHONES`` occupancy: the fraction of the 40 ms frame each phone fills (rows sum to 1),
- ``MOUTH_CLASSES`` occupancy: the same summed by mouth class,
- ``PROSODY_NAMES``: energy, its change, voicing, pitch (``backend.speech.prosody``).

At inference the phones come from the recognizer (real-speech acoustic model); at training
from the true timings, corrupted by ``ErrorModel`` so that both look alike to the model.
T = round(len(audio) / 16000 * 25) in both cases.
"""
from __future__ import annotations

import numpy as np

from backend.speech.errors import ErrorModel
from backend.speech.phones import (MOUTH_CLASSES, PHONE_INDEX, PHONE_MOUTH_CLASS, PHONES, SILENCE,
                                   tidy_segments)
from backend.speech.prosody import PROSODY_NAMES, n_frames, prosody
from backend.timebase import FPS, SAMPLE_RATE

FEATURE_NAMES = (tuple(f"phone_{p}" for p in PHONES) + tuple(f"mouth_{c}" for c in MOUTH_CLASSES)
                 + PROSODY_NAMES)
FEATURE_DIM = len(FEATURE_NAMES)
PHONE_SLICE = slice(0, len(PHONES))
MOUTH_SLICE = slice(len(PHONES), len(PHONES) + len(MOUTH_CLASSES))
PROSODY_SLICE = slice(len(PHONES) + len(MOUTH_CLASSES), FEATURE_DIM)

_MOUTH_OF_PHONE = np.zeros((len(PHONES), len(MOUTH_CLASSES)), dtype=np.float32)
_MOUTH_OF_PHONE[np.arange(len(PHONES)), PHONE_MOUTH_CLASS] = 1.0


def phone_occupancy(segments, n: int) -> np.ndarray:
    """(n, len(PHONES)) float32: share of each 40 ms frame covered by each phone.

    Time no segment covers (past the last one) counts as silence, so rows sum to 1.
    """
    out = np.zeros((n, len(PHONES)), dtype=np.float32)
    for phone, start, end in segments:
        first, last = int(np.floor(start * FPS)), min(int(np.ceil(end * FPS)), n)
        if last <= first or first >= n:
            continue
        frames = np.arange(max(first, 0), last)
        overlap = np.minimum(end * FPS, frames + 1) - np.maximum(start * FPS, frames)
        out[frames, PHONE_INDEX[phone]] += np.clip(overlap, 0.0, 1.0)
    out[:, PHONE_INDEX[SILENCE]] += np.clip(1.0 - out.sum(axis=1), 0.0, 1.0)
    return out


def features_from_recognition(segments, audio16k: np.ndarray, on_block=None) -> np.ndarray:
    """(T, FEATURE_DIM) float32 from heard phone segments and the audio (for prosody).

    on_block(): called between blocks of the prosody analysis (it may raise to stop).
    """
    audio = np.asarray(audio16k, dtype=np.float32).reshape(-1)
    n = n_frames(len(audio))
    phones = phone_occupancy(segments, n)
    features = np.empty((n, FEATURE_DIM), dtype=np.float32)
    features[:, PHONE_SLICE] = phones
    features[:, MOUTH_SLICE] = phones @ _MOUTH_OF_PHONE
    features[:, PROSODY_SLICE] = prosody(audio, on_block)
    return features


def features_from_audio(audio16k: np.ndarray, transcript: str | None = None) -> np.ndarray:
    """(T, FEATURE_DIM) float32 for float32 mono 16 kHz audio of any length, recognized in
    this process (the service uses ``backend.speech.workers`` instead).

    The words come from Whisper, or the transcript when given and when it matches the
    audio, forced-aligned (see ``backend.speech.recognizer``).
    """
    from backend.speech.recognizer import recognize

    audio = np.asarray(audio16k, dtype=np.float32).reshape(-1)
    return features_from_recognition(recognize(audio, transcript).segments, audio)


def features_from_segments(segments, audio16k: np.ndarray, rng: np.random.Generator | None = None,
                           corrupt: bool = True, error_model: ErrorModel | None = None) -> np.ndarray:
    """(T, FEATURE_DIM) float32 from true phone timings ``[(phone, start_s, end_s)]``.

    corrupt: apply ``error_model`` (default ``ErrorModel()``) with ``rng`` (default: a fresh
    unseeded generator) so the phones look like the recognizer's; prosody always comes from
    ``audio16k`` (float32 mono 16 kHz).
    """
    audio = np.asarray(audio16k, dtype=np.float32).reshape(-1)
    unknown = {phone for phone, _, _ in segments} - set(PHONE_INDEX)
    if unknown:
        raise ValueError(f"segments hold {sorted(unknown)}, which are not in PHONES; map espeak "
                         "events with backend.speech.phones.phone_segments first")
    segments = tidy_segments(segments, len(audio) / SAMPLE_RATE)
    if corrupt:
        rng = rng if rng is not None else np.random.default_rng()
        segments = (error_model or ErrorModel()).corrupt(segments, rng)
    return features_from_recognition(segments, audio)
