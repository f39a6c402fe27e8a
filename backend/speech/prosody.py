"""Loudness, voicing and pitch per 25 fps frame, normalised per utterance.

These carry emphasis and phrasing (head motion, eyebrows) and transfer from synthetic to
real voices because they are measured on the signal itself. Normalisation removes the
recording's level and the speaker's pitch register: energy is in units of 20 dB below the
utterance's loud frames, pitch in octaves from the utterance's median voiced pitch.

Pitch is found with the YIN difference function (de Cheveigné & Kawahara 2002): the
cumulative-mean-normalised difference d'(tau) (their eq. 8), the first dip below a
threshold (step 4), refined to its local minimum. Frames are analysed in blocks so memory
stays bounded for any length of audio.
"""
from __future__ import annotations

import numpy as np

from backend.timebase import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME

HOP = SAMPLES_PER_FRAME  # one analysis per output frame
WINDOW = 1024  # 64 ms: two periods of a 60 Hz voice with room for the lag search
F0_RANGE = (60.0, 400.0)
YIN_THRESHOLD = 0.2
SILENCE_DB = 45.0  # frames this far below the loud frames count as silence
BLOCK_FRAMES = 1500  # 60 s of frames analysed at a time

PROSODY_NAMES = ("energy", "energy_delta", "voicing", "pitch")
PROSODY_DIM = len(PROSODY_NAMES)


def n_frames(n_samples: int) -> int:
    """Number of 25 fps frames for ``n_samples`` of 16 kHz audio (the contract's T)."""
    return int(round(n_samples / SAMPLE_RATE * FPS))


def _frames(audio: np.ndarray, first: int, count: int) -> np.ndarray:
    """(count, WINDOW) windows centred on frames first..first+count-1, zero outside."""
    centres = (np.arange(first, first + count) + 0.5) * HOP
    starts = np.round(centres - WINDOW / 2).astype(np.int64)
    lo, hi = max(starts[0], 0), min(starts[-1] + WINDOW, len(audio))
    padded = np.zeros(starts[-1] + WINDOW - starts[0], dtype=np.float32)
    if hi > lo:
        padded[lo - starts[0]:hi - starts[0]] = audio[lo:hi]
    view = np.lib.stride_tricks.sliding_window_view(padded, WINDOW)
    return view[starts - starts[0]]


def _yin(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: period in samples (float) and aperiodicity d'(period) in [0, 1+]."""
    tau_min = int(SAMPLE_RATE / F0_RANGE[1])
    tau_max = int(SAMPLE_RATE / F0_RANGE[0])
    width = WINDOW - tau_max  # integration window
    frames = frames - frames.mean(axis=1, keepdims=True)
    size = 1 << int(np.ceil(np.log2(WINDOW + width)))
    spectrum = np.fft.rfft(frames, size) * np.conj(np.fft.rfft(frames[:, :width], size))
    acf = np.fft.irfft(spectrum, size)[:, :tau_max + 1]
    power = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames.astype(np.float64) ** 2, axis=1)], axis=1)
    lags = np.arange(tau_max + 1)
    energy_tau = power[:, lags + width] - power[:, lags]
    diff = np.maximum(acf[:, :1] + energy_tau - 2.0 * acf, 0.0)  # eq. 7
    cumulative = np.cumsum(diff[:, 1:], axis=1)
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] * lags[1:] / np.maximum(cumulative, 1e-12)  # eq. 8
    search = cmnd[:, tau_min:]
    below = search < YIN_THRESHOLD
    tau = np.where(below.any(axis=1), below.argmax(axis=1), search.argmin(axis=1))
    rows = np.arange(len(frames))
    for _ in range(tau_max - tau_min):  # walk down to the bottom of the dip
        step = (tau + 1 < search.shape[1]) & (search[rows, np.minimum(tau + 1, search.shape[1] - 1)] < search[rows, tau])
        if not step.any():
            break
        tau = tau + step
    # parabolic interpolation around the minimum (step 5)
    left = search[rows, np.maximum(tau - 1, 0)]
    mid = search[rows, tau]
    right = search[rows, np.minimum(tau + 1, search.shape[1] - 1)]
    curvature = left - 2 * mid + right
    shift = np.where(curvature > 1e-9, 0.5 * (left - right) / np.maximum(curvature, 1e-9), 0.0)
    return tau + tau_min + np.clip(shift, -1, 1), mid


def prosody(audio: np.ndarray, on_block=None) -> np.ndarray:
    """(T, PROSODY_DIM) float32: energy, its change, voicing, pitch; T = ``n_frames``.

    energy: log energy in units of 20 dB, 0 at the utterance's loud frames (95th
    percentile), floored at -SILENCE_DB. energy_delta: its frame-to-frame change.
    voicing: 1 - YIN aperiodicity in [0, 1], 0 in silence. pitch: octaves above the
    utterance's median voiced pitch, 0 where unvoiced. on_block(): called after each
    block of ``BLOCK_FRAMES`` (it may raise to stop a long analysis).
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    total = n_frames(len(audio))
    out = np.zeros((total, PROSODY_DIM), dtype=np.float32)
    if total == 0:
        return out
    log_energy = np.empty(total)
    period = np.empty(total)
    aperiodicity = np.empty(total)
    for first in range(0, total, BLOCK_FRAMES):
        count = min(BLOCK_FRAMES, total - first)
        frames = _frames(audio, first, count)
        centre = frames[:, (WINDOW - HOP) // 2:(WINDOW + HOP) // 2]
        log_energy[first:first + count] = 10.0 * np.log10(np.mean(centre.astype(np.float64) ** 2, axis=1) + 1e-10)
        period[first:first + count], aperiodicity[first:first + count] = _yin(frames)
        if on_block is not None:
            on_block()
    loud = np.percentile(log_energy, 95)
    level = np.maximum(log_energy - loud, -SILENCE_DB)
    speech = level > -SILENCE_DB + 10.0  # at least 10 dB above the floor
    voicing = np.where(speech, np.clip(1.0 - aperiodicity, 0.0, 1.0), 0.0)
    voiced = speech & (aperiodicity < 2 * YIN_THRESHOLD)
    f0 = SAMPLE_RATE / period
    pitch = np.zeros(total)
    if voiced.any():
        pitch[voiced] = np.log2(f0[voiced] / np.median(f0[voiced]))
    out[:, 0] = level / 20.0
    out[1:, 1] = np.diff(out[:, 0])
    out[:, 2] = voicing
    out[:, 3] = np.clip(pitch, -1.5, 1.5)
    return out

