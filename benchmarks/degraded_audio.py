"""Real recordings made harder, the same way for every benchmark: white noise, babble (other
voices), a low level, a telephone band."""
from __future__ import annotations

import numpy as np
from scipy.signal import butter, resample_poly, sosfiltfilt

from backend.timebase import SAMPLE_RATE  # the importing benchmark puts the repository on sys.path


def with_noise(audio: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, 1.0, len(audio)).astype(np.float32)
    return audio + noise * np.sqrt(np.mean(audio ** 2) / 10 ** (snr_db / 10))


def with_babble(audio: np.ndarray, others: list, snr_db: float, voices: int = 4, seed: int = 0) -> np.ndarray:
    """``voices`` other recordings (looped, random starts) mixed under ``audio`` at ``snr_db``."""
    rng = np.random.default_rng(seed)
    babble = np.zeros(len(audio), np.float64)
    for k in range(voices):
        other = others[rng.integers(len(others))]
        looped = np.tile(other, int(np.ceil(len(audio) / len(other))) + 1)
        start = rng.integers(len(other))
        babble += looped[start:start + len(audio)]
    power = np.mean(babble ** 2) or 1.0
    return (audio + babble * np.sqrt(np.mean(audio ** 2) / 10 ** (snr_db / 10) / power)).astype(np.float32)


def telephone(audio: np.ndarray) -> np.ndarray:
    """8 kHz, 300-3400 Hz, back at 16 kHz: the band a phone line or a call recording keeps."""
    narrow = resample_poly(audio, 1, 2)
    narrow = sosfiltfilt(butter(4, (300, 3400), btype="bandpass", fs=SAMPLE_RATE // 2, output="sos"), narrow)
    return resample_poly(narrow, 2, 1).astype(np.float32)[: len(audio)]


def conditions(others: list) -> dict:
    """name -> function(audio, index) of the degraded copy; ``others``: babble voices
    (recordings other than the one degraded are used, by index)."""
    def babble(audio, index, snr_db):
        return with_babble(audio, [o for k, o in enumerate(others) if k != index], snr_db, seed=index)

    return {
        "clean": lambda a, i: a,
        "white noise, 30 dB SNR": lambda a, i: with_noise(a, 30, i),
        "white noise, 20 dB SNR": lambda a, i: with_noise(a, 20, i),
        "white noise, 10 dB SNR": lambda a, i: with_noise(a, 10, i),
        "babble, 10 dB SNR": lambda a, i: babble(a, i, 10),
        "level -30 dB": lambda a, i: a * 10 ** (-30 / 20),
        "telephone band": lambda a, i: telephone(a),
    }
