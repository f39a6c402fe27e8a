"""Motion quality metrics (numpy only).

Vertex arrays are (T, V, 3) in metres. Results are in the units the literature reports:
LVE and MOD in millimetres, FDD in 1e-5 m, beat alignment in 0..1.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import argrelextrema


def lip_vertex_error(pred: np.ndarray, true: np.ndarray, lip_vertices: np.ndarray) -> float:
    """LVE: the mean over frames of the largest lip-vertex L2 error, in mm."""
    err = np.linalg.norm(pred[:, lip_vertices] - true[:, lip_vertices], axis=-1)
    return float(err.max(axis=1).mean() * 1e3)


def upper_face_dynamics_deviation(pred, true, upper_face_vertices, template) -> float:
    """FDD: how far the prediction's upper-face motion variability is from the truth's.

    Per upper-face vertex, the standard deviation over time of its displacement from the
    template; FDD is the mean over vertices of (truth's std - prediction's std), in 1e-5 m.
    """

    def dynamics(verts):
        displacement = np.linalg.norm(verts[:, upper_face_vertices] - template[upper_face_vertices], axis=-1)
        return displacement.std(axis=0)

    return float((dynamics(true) - dynamics(pred)).mean() * 1e5)


def mouth_opening(vertices: np.ndarray, upper_lip: int, lower_lip: int) -> np.ndarray:
    """Inner-lip distance per frame, in mm."""
    return np.linalg.norm(vertices[:, upper_lip] - vertices[:, lower_lip], axis=-1) * 1e3


def mouth_opening_difference(pred, true, upper_lip: int, lower_lip: int) -> float:
    """MOD: mean absolute difference of the inner-lip distance, in mm."""
    return float(np.abs(mouth_opening(pred, upper_lip, lower_lip) - mouth_opening(true, upper_lip, lower_lip)).mean())


def motion_beats(head_rotation: np.ndarray, fps: float) -> np.ndarray:
    """Times (s) of head-motion beats: local minima of the head's angular speed."""
    speed = np.linalg.norm(np.diff(head_rotation, axis=0), axis=-1)
    if len(speed) < 3:
        return np.zeros(0)
    minima = argrelextrema(speed, np.less, order=2)[0]
    return (minima + 1) / fps


def audio_beats(audio: np.ndarray, sample_rate: int, hop_s: float = 0.01) -> np.ndarray:
    """Times (s) of audio onsets: peaks of the positive log-energy flux."""
    hop = int(sample_rate * hop_s)
    n = len(audio) // hop
    if n < 5:
        return np.zeros(0)
    frames = audio[: n * hop].reshape(n, hop)
    energy = np.log(np.mean(frames**2, axis=1) + 1e-8)
    flux = np.maximum(np.diff(energy), 0.0)
    threshold = flux.mean() + flux.std()
    peaks = argrelextrema(flux, np.greater, order=5)[0]
    peaks = peaks[flux[peaks] > threshold]
    return (peaks + 1) * hop_s


def beat_alignment(motion_beat_times: np.ndarray, audio_beat_times: np.ndarray, sigma: float = 0.1) -> float:
    """BA: mean over motion beats of exp(-d^2 / (2 sigma^2)), d = distance to the nearest audio beat."""
    if len(motion_beat_times) == 0 or len(audio_beat_times) == 0:
        return 0.0
    distance = np.abs(motion_beat_times[:, None] - audio_beat_times[None, :]).min(axis=1)
    return float(np.exp(-(distance**2) / (2 * sigma**2)).mean())


def diversity(samples: np.ndarray) -> float:
    """Mean pairwise L2 distance per frame between samples (N, T, ...) of the same input."""
    n = len(samples)
    if n < 2:
        return 0.0
    flat = samples.reshape(n, samples.shape[1], -1)
    distances = [
        np.linalg.norm(flat[i] - flat[j], axis=-1).mean() for i in range(n) for j in range(i + 1, n)
    ]
    return float(np.mean(distances))


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
