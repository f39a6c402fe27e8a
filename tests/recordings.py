"""The repository's real recordings (assets/real_speech) as test audio of any length.

A plain module that tests in any folder import by name.
"""
from __future__ import annotations

import numpy as np

from backend.audio_io import load_audio
from project import ROOT

REAL_SPEECH = ROOT / "assets" / "real_speech"


def real_speech(seconds: float, gap_s: float = 0.3):
    """(audio float32 16 kHz, transcript): the recordings one after another with short
    pauses, repeated until ``seconds`` long (cut there)."""
    names = sorted(p.stem for p in REAL_SPEECH.glob("*.flac"))
    gap = np.zeros(int(gap_s * 16000), np.float32)
    parts, words, total = [], [], 0
    while total < seconds * 16000:
        for name in names:
            audio = load_audio(REAL_SPEECH / f"{name}.flac")
            parts += [audio, gap]
            words.append((REAL_SPEECH / f"{name}.txt").read_text().strip())
            total += len(audio) + len(gap)
            if total >= seconds * 16000:
                break
    return np.concatenate(parts)[: int(seconds * 16000)], " ".join(words)
