"""Audio augmentation so that the model hears more than clean synthetic voices.

A random chain (each step with its own probability): pitch shift (phase vocoder, length
kept), EQ (peaking filters), band limits (high-pass, low-pass down to telephone band),
reverberation (a synthetic room impulse response, RT60 0.1-0.9 s), noise (white, pink,
brown or babble-like, 0-35 dB SNR), level (-30..+6 dB) and occasional clipping. The
output has exactly the input's length, so phone timings stay valid.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy.signal import butter, fftconvolve, lfilter, resample_poly, sosfilt, stft, istft

from ...timebase import SAMPLE_RATE


def pitch_shift(audio, semitones: float, sample_rate: int = SAMPLE_RATE):
    """Shift pitch (and formants) by ``semitones``, keeping the duration."""
    factor = 2.0 ** (semitones / 12.0)
    stretched = _time_stretch(audio, factor, sample_rate)
    ratio = Fraction(1 / factor).limit_denominator(64)  # back to the original duration
    out = resample_poly(stretched, ratio.numerator, ratio.denominator)
    return _fit(out, len(audio))


def _time_stretch(audio, factor, sample_rate, n_fft=512, hop=128):
    """Phase vocoder: ``factor`` times longer, same pitch."""
    _, _, spec = stft(audio, sample_rate, nperseg=n_fft, noverlap=n_fft - hop)
    positions = np.arange(0, spec.shape[1] - 1, 1.0 / factor)
    expected = 2 * np.pi * hop * np.arange(spec.shape[0]) / n_fft
    phase = np.angle(spec[:, 0])
    out = np.empty((spec.shape[0], len(positions)), complex)
    for i, position in enumerate(positions):
        k = int(position)
        frac = position - k
        magnitude = (1 - frac) * np.abs(spec[:, k]) + frac * np.abs(spec[:, k + 1])
        out[:, i] = magnitude * np.exp(1j * phase)
        delta = np.angle(spec[:, k + 1]) - np.angle(spec[:, k]) - expected
        phase = phase + expected + np.angle(np.exp(1j * delta))  # wrapped deviation
    _, stretched = istft(out, sample_rate, nperseg=n_fft, noverlap=n_fft - hop)
    return stretched


def _fit(audio, length):
    return np.pad(audio, (0, max(0, length - len(audio))))[:length]


def _peaking(audio, freq, gain_db, q, sample_rate=SAMPLE_RATE):
    """RBJ audio-EQ-cookbook peaking filter."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * freq / sample_rate
    alpha = np.sin(w0) / (2 * q)
    b = [1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a]
    den = [1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a]
    return lfilter(b, den, audio)


def room_impulse(rng, rt60: float, sample_rate: int = SAMPLE_RATE):
    """Direct sound, a few early reflections and an exponentially decaying diffuse tail."""
    n = int(rt60 * sample_rate)
    t = np.arange(n) / sample_rate
    tail = rng.normal(size=n) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    tail = lfilter([1.0], [1.0, -rng.uniform(0.2, 0.7)], tail)  # walls absorb highs
    rir = tail * rng.uniform(0.05, 0.3) / (np.abs(tail).max() + 1e-9)
    rir[0] = 1.0
    for _ in range(rng.integers(2, 6)):
        rir[rng.integers(int(0.002 * sample_rate), int(0.03 * sample_rate))] += rng.uniform(0.1, 0.5)
    return rir


def noise(rng, kind: str, length: int, sample_rate: int = SAMPLE_RATE):
    white = rng.normal(size=length)
    if kind == "white":
        return white
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(length, 1 / sample_rate)
    freqs[0] = freqs[1]
    if kind == "pink":
        return np.fft.irfft(spectrum / np.sqrt(freqs), length)
    if kind == "brown":
        return np.fft.irfft(spectrum / freqs, length)
    # babble-like: speech-band noise with a syllable-rate (3-6 Hz) loudness pattern
    band = np.fft.irfft(spectrum * np.exp(-((np.log(freqs) - np.log(500)) ** 2) / 1.5), length)
    t = np.arange(length) / sample_rate
    envelope = sum(1 + np.sin(2 * np.pi * rng.uniform(3, 6) * t + rng.uniform(0, 6.3)) for _ in range(3))
    return band * envelope


def _rms(audio):
    return float(np.sqrt(np.mean(audio ** 2)) + 1e-9)


def augment(audio: np.ndarray, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE):
    """Return ``(augmented audio float32, what was done as a JSON-safe dict)``."""
    x = np.asarray(audio, np.float64)
    done = {}
    speech_rms = _rms(x)
    if rng.random() < 0.3:
        done["pitch_semitones"] = round(float(rng.uniform(-2.0, 2.0)), 2)
        x = pitch_shift(x, done["pitch_semitones"], sample_rate)
    if rng.random() < 0.5:
        bands = []
        for _ in range(rng.integers(1, 4)):
            band = (float(np.exp(rng.uniform(np.log(100), np.log(6000)))), float(rng.uniform(-8, 8)),
                    float(rng.uniform(0.5, 2.0)))
            x = _peaking(x, *band, sample_rate=sample_rate)
            bands.append([round(v, 2) for v in band])
        done["eq"] = bands
    if rng.random() < 0.4:
        low = float(rng.uniform(60, 300))
        high = float(rng.choice([rng.uniform(2800, 3600), rng.uniform(3600, 7500)]))
        x = sosfilt(butter(2, [low, high], btype="bandpass", fs=sample_rate, output="sos"), x)
        done["band_hz"] = [round(low), round(high)]
    if rng.random() < 0.5:
        done["rt60_s"] = round(float(rng.uniform(0.1, 0.9)), 2)
        x = fftconvolve(x, room_impulse(rng, done["rt60_s"], sample_rate))[: len(x)]
    x *= speech_rms / _rms(x)
    if rng.random() < 0.6:
        kind = str(rng.choice(["white", "pink", "brown", "babble"]))
        snr = float(rng.uniform(0, 35))
        n = noise(rng, kind, len(x), sample_rate)
        x = x + n * speech_rms / _rms(n) * 10 ** (-snr / 20)
        done["noise"] = [kind, round(snr, 1)]
    target_db = float(rng.uniform(-30, 6))
    x *= 10 ** ((target_db - 20 * np.log10(speech_rms / 0.1)) / 20)  # 0 dB = speech at 0.1 rms
    done["level_db"] = round(target_db, 1)
    if rng.random() < 0.08:
        limit = float(np.abs(x).max() * rng.uniform(0.3, 0.8))
        x = np.clip(x, -limit, limit)
        done["clip_at"] = round(limit, 4)
    return np.clip(x, -1.0, 1.0).astype(np.float32), done
