"""Synthetic speech shared by the speech front-end tests (espeak-ng, deterministic)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from backend.speech import espeak
from backend.speech.phones import phone_segments

ENGLISH = ("Peter Piper picked a peck of pickled peppers. My mother bought five fine violins, "
           "and we moved over the river to watch the boats.")


def speak16k(text: str, voice: str = "en-us", variant: str | None = "f2", **kwargs):
    """(audio float32 16 kHz, true phone segments) for ``text``."""
    audio, rate, segments = espeak.synthesize(text, voice=voice, variant=variant, **kwargs)
    audio16k = resample_poly(audio, 320, 441).astype(np.float32)  # 22050 -> 16000 Hz
    assert rate == 22050
    return audio16k, phone_segments(segments)


@pytest.fixture(scope="session")
def english():
    return speak16k(ENGLISH)


@pytest.fixture(scope="session")
def recognizer():
    from backend.speech.recognizer import default_recognizer

    return default_recognizer()  # the one features_from_audio uses
