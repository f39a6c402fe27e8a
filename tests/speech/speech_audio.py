"""Synthetic speech shared by the speech front-end tests (espeak-ng; its timing varies by a few samples from run to run)."""
from __future__ import annotations

from backend.audio_io import resample
from backend.speech import espeak
from backend.speech.phones import phone_segments

ENGLISH = ("Peter Piper picked a peck of pickled peppers. My mother bought five fine violins, "
           "and we moved over the river to watch the boats.")


def speak16k(text: str, voice: str = "en-us", variant: str | None = "f2", **kwargs):
    """(audio float32 16 kHz, true phone segments) for ``text``."""
    audio, rate, segments = espeak.synthesize(text, voice=voice, variant=variant, **kwargs)
    return resample(audio, rate), phone_segments(segments)
