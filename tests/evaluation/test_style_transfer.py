import numpy as np
import pytest

from backend.evaluation.style_transfer import EDITS, properties, transfer_effects, transfer_score


def _motion(frames=250, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 25
    exp = np.full((frames, 50), 0.1, np.float32)
    exp[100:104, [0, 7]] = 1.0  # one blink (eyeBlinkLeft, eyeBlinkRight)
    pose = np.zeros((frames, 6), np.float32)
    pose[:, 0] = 0.03 * np.sin(2 * np.pi * 0.4 * t) + 0.1  # yaw about a resting turn
    pose[:, 1] = 0.02 * np.sin(2 * np.pi * 0.7 * t + 1)
    pose[:, 3] = 0.1 + 0.05 * np.abs(np.sin(2 * np.pi * 3 * t)) + 0.001 * rng.normal(size=frames)
    return {"exp": exp, "pose": pose}


@pytest.mark.parametrize("edit", EDITS, ids=lambda e: e.name)
def test_each_edit_changes_its_own_property_by_its_amount(edit):
    motion = _motion()
    changed, unchanged = properties(edit.apply(motion)), properties(motion)
    expected = {"head x4": 4.0, "head x0.1": 0.1, "smile +0.5": 0.5, "brows +0.4": 0.4, "jaw x0.4": 0.4}[edit.name]
    assert edit.effect(changed, unchanged) == pytest.approx(expected, rel=0.03)
    others = [k for k in ("head_motion_deg", "smile", "brow", "jaw_motion") if k != edit.prop]
    for key in others:
        assert changed[key] == pytest.approx(unchanged[key], rel=1e-3, abs=1e-6), key


def test_properties_count_blinks_and_measure_degrees():
    values = properties(_motion())
    assert values["blink_per_min"] == pytest.approx(1 / (250 / 25 / 60))
    # RMS of two sines of 0.03 and 0.02 rad, within 4 s windows: about 1.46 degrees
    assert 1.2 < values["head_motion_deg"] < 1.7


def test_transfer_effects_and_score_are_zero_for_a_deaf_model_and_one_at_the_targets():
    reference = _motion()
    fixed = _motion(seed=1)
    deaf = transfer_effects(lambda style: fixed, [reference])
    assert deaf == {"head x4": 1.0, "head x0.1": 1.0, "smile +0.5": 0.0, "brows +0.4": 0.0, "jaw x0.4": 1.0}
    assert transfer_score(deaf) == 0.0
    assert transfer_score(transfer_effects(lambda style: style, [reference])) == 1.0  # copies its reference
    half = {"head x4": 2.0 ** 0.5, "head x0.1": 1.0, "smile +0.5": 0.125, "brows +0.4": 0.3, "jaw x0.4": 1.0}
    assert transfer_score(half) == pytest.approx((0.5 + 0 + 0.5 + 1 + 0) / 5)
