"""Reduced keys: the fewest Bezier keys within a tolerance (bpy-free core)."""
import numpy as np
import pytest

from diffposetalk.addon.core.key_reduction import evaluate, reduce_keys


def speech_curve(n=250, seed=0):
    """A mouth-like channel at 25 fps: syllables about 4 a second, phrases, a little jitter."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 25
    return 0.5 + 0.3 * np.sin(2 * np.pi * 1.9 * t) * np.sin(2 * np.pi * 0.4 * t) + 0.001 * rng.normal(size=n)


def bezier(p0, p1, p2, p3, t):
    t = t[:, None]
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t ** 2 * p2 + t ** 3 * p3


@pytest.mark.parametrize("tolerance", [0.05, 0.01, 0.002])
def test_every_frame_is_within_the_tolerance_with_fewer_keys(tolerance):
    frames = np.arange(250) + 11.0
    values = speech_curve()
    curve = reduce_keys(frames, values, tolerance)
    assert curve.keys[0] == 0 and curve.keys[-1] == 249 and np.all(np.diff(curve.keys) > 0)
    error = np.abs(evaluate(curve, frames) - values).max()
    assert error <= tolerance + 1e-9 and curve.max_error == pytest.approx(error)
    assert len(curve.keys) < 250 * (0.6 if tolerance >= 0.01 else 0.9)


def test_a_looser_tolerance_keeps_fewer_keys():
    frames, values = np.arange(250.0), speech_curve()
    counts = [len(reduce_keys(frames, values, tolerance).keys) for tolerance in (0.001, 0.01, 0.1)]
    assert counts[0] > counts[1] > counts[2]


def test_the_handles_make_the_bezier_curve_blender_draws():
    frames, values = np.arange(100.0), speech_curve(100, seed=1)
    curve = reduce_keys(frames, values, 0.01)
    for k in range(len(curve.keys) - 1):
        p0, p3 = curve.co[k], curve.co[k + 1]
        t = np.linspace(0, 1, 17)
        points = bezier(p0, curve.handle_right[k], curve.handle_left[k + 1], p3, t)
        # x is linear in the curve parameter, so the frame picks t directly, and y is the cubic.
        np.testing.assert_allclose(points[:, 0], p0[0] + t * (p3[0] - p0[0]), atol=1e-9)
        np.testing.assert_allclose(points[:, 1], evaluate(curve, points[:, 0]), atol=1e-9)
    # Aligned: both handles of a key lie on one line through it.
    left = (curve.co - curve.handle_left)
    right = (curve.handle_right - curve.co)
    np.testing.assert_allclose(left[:, 1] / left[:, 0], right[:, 1] / right[:, 0], atol=1e-9)


def test_edge_cases():
    flat = reduce_keys(np.arange(50.0), np.full(50, 0.3), 0.0)
    assert list(flat.keys) == [0, 49] and flat.max_error < 1e-12
    one = reduce_keys([7.0], [0.5], 0.01)
    assert list(one.keys) == [0] and one.co.tolist() == [[7.0, 0.5]]
    exact = reduce_keys(np.arange(30.0), speech_curve(30), 0.0)
    assert exact.max_error <= 1e-9
    with pytest.raises(ValueError, match="tolerance"):
        reduce_keys(np.arange(3.0), np.zeros(3), -1)
    with pytest.raises(ValueError, match="one length"):
        reduce_keys(np.arange(3.0), np.zeros(2), 0.1)
