import numpy as np
import pytest

from backend.evaluation import metrics
from backend.evaluation.lipsync import lipsync_report


def test_lve_is_mean_of_per_frame_max_lip_error_in_mm():
    true = np.zeros((2, 4, 3))
    pred = true.copy()
    pred[0, 1, 0] = 0.003  # 3 mm on a lip vertex
    pred[0, 2, 1] = 0.001
    pred[1, 3, 2] = 0.010  # not a lip vertex
    assert metrics.lip_vertex_error(pred, true, np.array([1, 2])) == pytest.approx(1.5)


def test_mouth_opening_difference():
    true = np.zeros((3, 2, 3))
    true[:, 1, 1] = -0.01  # 10 mm gap
    pred = true.copy()
    pred[:, 1, 1] = -0.007
    assert metrics.mouth_opening_difference(pred, true, 0, 1) == pytest.approx(3.0)


def test_fdd_is_zero_for_identical_and_positive_for_frozen_prediction():
    rng = np.random.default_rng(0)
    template = rng.normal(size=(5, 3))
    true = template + 0.002 * rng.normal(size=(50, 5, 3))
    frozen = np.repeat(template[None], 50, axis=0)
    assert metrics.upper_face_dynamics_deviation(true, true, np.arange(5), template) == 0.0
    assert metrics.upper_face_dynamics_deviation(frozen, true, np.arange(5), template) > 0.0


def test_beat_alignment_rewards_beats_on_onsets():
    audio_beats = np.array([1.0, 2.0, 3.0])
    assert metrics.beat_alignment(np.array([1.0, 2.0, 3.0]), audio_beats) == pytest.approx(1.0)
    assert metrics.beat_alignment(np.array([1.5, 2.5]), audio_beats) < 1e-5


def test_diversity_zero_for_identical_samples():
    sample = np.random.default_rng(1).normal(size=(10, 6))
    assert metrics.diversity(np.stack([sample, sample])) == 0.0
    assert metrics.diversity(np.stack([sample, sample + 1])) > 0.0


def test_lipsync_report_scores_closures_openings_and_rests():
    fps = 25
    opening = np.full(100, 8.0)  # open everywhere
    opening[10:14] = 0.5  # a closure inside the first bilabial
    opening[60:100] = 0.0  # a long closed rest
    segments = [("M", 0.4, 0.56), ("AA", 0.8, 1.0), ("B", 1.6, 1.7), ("SIL", 2.4, 4.0)]
    audio = np.random.default_rng(0).normal(size=64000) * 0.1
    report = lipsync_report(opening, segments, audio, fps=fps)
    assert report.bilabials == 2 and report.bilabials_closed == 0.5
    assert report.open_vowels == 1 and report.open_vowels_open == 1.0
    assert report.rest_frames > 0 and report.rest_closed == 1.0
