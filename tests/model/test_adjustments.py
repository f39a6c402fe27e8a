"""The animator's adjustments, measured on the built-in head's vertices: closures stay shut
under the jaw and mouth intensities and smoothing, blinks stay full, the head scales
about its mean, the offset moves the motion in time. The motion is the synthetic corpus'
(full blinks, a closure in every p/b/m)."""
from __future__ import annotations

import numpy as np
import pytest

from backend import motion_io
from backend.data.synthetic.generate import CorpusConfig, make_clip
from backend.data.synthetic.visemes import CH
from backend.evaluation.lipsync import CLOSED_MM
from backend.evaluation.report import eval_head, opening_mm
from backend.heads import load_head
from backend.model.adjustments import (AdjustmentError, Adjustments, apply_adjustments, resolve_adjustments)
from backend.protocol import ADJUSTMENTS, Method, validate_params
from backend.speech.phones import mouth_class

CONFIG = CorpusConfig(seed=3, n_clips=4, n_speakers=2, min_seconds=8.5, max_seconds=10.0, augment_probability=0.0)


@pytest.fixture(scope="module")
def head():
    return eval_head(load_head())


@pytest.fixture(scope="module")
def take():
    clip, _audio, _meta = make_clip(CONFIG, 0)
    motion = {"exp": clip.exp.astype(np.float32), "pose": clip.pose.astype(np.float32), "fps": 25.0,
              "expression_space": "arkit"}
    return motion, clip.phones


@pytest.fixture(scope="module")
def closures(head, take):
    """Frames inside a p/b/m where the lips are shut in the take, and its opening."""
    motion, phones = take
    opening = opening_mm(head, motion)
    frames = set()
    for phone, start, end in phones:
        if mouth_class(phone) == "bilabial":
            span = np.arange(int(np.floor(start * 25)), max(int(np.floor(start * 25)) + 1, int(np.ceil(end * 25))))
            frames.update(int(k) for k in span if k < len(opening) and opening[k] <= CLOSED_MM)
    frames = np.array(sorted(frames))
    assert len(frames) >= 10, "the clip has too few closures to test with"
    return frames, opening


def _adjusted(motion, **kwargs):
    return apply_adjustments(motion, Adjustments(**kwargs))


def _jerk(values):
    return float(np.abs(np.diff(values, 3, axis=0)).mean())


def test_neutral_adjustments_change_nothing(take):
    motion, _ = take
    out = _adjusted(motion)
    assert np.array_equal(out["exp"], motion["exp"]) and np.array_equal(out["pose"], motion["pose"])


@pytest.mark.parametrize("region, scale", [("jaw", 0.5), ("jaw", 1.5), ("mouth", 0.5), ("mouth", 1.5)])
def test_intensity_keeps_closures_closed(head, take, closures, region, scale):
    motion, _ = take
    frames, before = closures
    after = opening_mm(head, _adjusted(motion, **{region: scale}))
    assert after[frames].max() <= CLOSED_MM
    # ... and it does change the open mouth, in the direction asked.
    open_frames = before > 8.0
    ratio = np.median(after[open_frames]) / np.median(before[open_frames])
    assert (ratio < 0.97) if scale < 1 else (ratio > 1.03)
    if region == "jaw":
        assert ratio == pytest.approx(scale, abs=0.15)


def test_smoothing_lowers_jerk_and_keeps_closures_and_blinks(head, take, closures):
    motion, _ = take
    frames, _ = closures
    rough = {key: motion[key] + np.random.default_rng(0).normal(0, 0.01, motion[key].shape).astype(np.float32)
             for key in ("exp", "pose")}
    rough = {**motion, **rough}
    rough["exp"][:, [CH["eyeBlinkLeft"], CH["eyeBlinkRight"]]] = motion["exp"][:, [CH["eyeBlinkLeft"],
                                                                                    CH["eyeBlinkRight"]]]
    rough_opening = opening_mm(head, rough)
    shut = frames[rough_opening[frames] <= CLOSED_MM]
    smooth = _adjusted(rough, smoothing=1.0)
    assert _jerk(smooth["exp"]) < 0.5 * _jerk(rough["exp"])
    assert _jerk(smooth["pose"][:, :3]) < 0.5 * _jerk(rough["pose"][:, :3])
    assert opening_mm(head, smooth)[shut].max() <= CLOSED_MM
    blink = motion["exp"][:, CH["eyeBlinkLeft"]]
    assert blink.max() > 0.9  # the clip blinks fully
    assert np.array_equal(smooth["exp"][:, CH["eyeBlinkLeft"]], rough["exp"][:, CH["eyeBlinkLeft"]])


def test_eye_intensity_leaves_blinks_whole_and_brows_scale_about_the_neutral(take):
    motion, _ = take
    out = _adjusted(motion, eyes=0.5, brows=1.5)
    blinks = [CH["eyeBlinkLeft"], CH["eyeBlinkRight"]]
    assert np.array_equal(out["exp"][:, blinks], motion["exp"][:, blinks])
    np.testing.assert_allclose(out["exp"][:, CH["eyeLookUpLeft"]], 0.5 * motion["exp"][:, CH["eyeLookUpLeft"]],
                               atol=1e-6)
    np.testing.assert_allclose(out["exp"][:, CH["browInnerUp"]], 1.5 * motion["exp"][:, CH["browInnerUp"]],
                               atol=1e-6)


def test_head_two_doubles_the_head_motion_about_its_mean(take):
    motion, _ = take
    _, before = motion_io.head_about_mean(motion["pose"])
    _, after = motion_io.head_about_mean(_adjusted(motion, head=2.0)["pose"])
    np.testing.assert_allclose(after.std(axis=0), 2.0 * before.std(axis=0), rtol=0.02)
    # The same thing as the Head Motion control always did.
    np.testing.assert_allclose(_adjusted(motion, head=2.0)["pose"], motion_io.scale_head_motion(motion["pose"], 2.0),
                               atol=1e-5)


@pytest.mark.parametrize("offset", [3, -3])
def test_offset_moves_the_motion_by_whole_frames(take, offset):
    motion, _ = take
    out = _adjusted(motion, lip_sync_offset=offset)
    n = len(motion["exp"])
    assert out["exp"].shape == motion["exp"].shape
    if offset > 0:
        np.testing.assert_array_equal(out["exp"][offset:], motion["exp"][:n - offset])
        assert (out["exp"][:offset] == motion["exp"][0]).all()  # the first frame held
    else:
        np.testing.assert_array_equal(out["exp"][:n + offset], motion["exp"][-offset:])
        assert (out["exp"][n + offset:] == motion["exp"][-1]).all()
    np.testing.assert_allclose(out["pose"][offset:] if offset > 0 else out["pose"][:n + offset],
                               motion["pose"][:n - offset] if offset > 0 else motion["pose"][-offset:], atol=1e-6)


def test_a_flame_model_adjusts_jaw_and_head_and_refuses_the_arkit_regions():
    params = validate_params(Method.ADJUST_TAKE, {"take": "t.npz", "output": "o.npz", "jaw_scale": 1.5,
                                                  "head_motion_scale": 0.5, "smoothing": 0.5})
    assert resolve_adjustments(params, "flame") == Adjustments(jaw=1.5, head=0.5, smoothing=0.5)
    for name in ("mouth_scale", "brow_scale", "eye_scale"):
        with pytest.raises(AdjustmentError) as info:
            resolve_adjustments({**params, name: 0.8}, "flame")
        assert info.value.param == name and "set it to 1" in str(info.value)
    assert set(Adjustments().as_params()) == set(ADJUSTMENTS)


def test_flame_jaw_scales_about_the_closed_jaw():
    t = np.arange(200) / 25
    jaw = 0.02 + 0.15 * np.clip(np.sin(2 * np.pi * 2 * t), 0, None)
    pose = np.zeros((200, 6), np.float32)
    pose[:, 3] = jaw
    motion = {"exp": np.zeros((200, 50), np.float32), "pose": pose, "fps": 25.0, "expression_space": "flame"}
    out = _adjusted(motion, jaw=1.5)["pose"][:, 3]
    closed = jaw <= 0.0201
    np.testing.assert_allclose(out[closed], jaw[closed], atol=1e-6)
    np.testing.assert_allclose(out.max() - 0.02, 1.5 * (jaw.max() - 0.02), rtol=1e-4)
