"""The frames each take of a shared Action covers, and which keys go back beside a take
written again (bpy-free core)."""
import numpy as np
import pytest

from diffposetalk.addon.core.take_spans import after_write, kept_keys, subtract


def test_subtracting_frames_cuts_splits_or_drops_an_interval():
    assert subtract([[1, 48]], 30, 60) == [[1, pytest.approx(30, abs=0.01)]]
    assert subtract([[1, 48]], 10, 20) == [[1, pytest.approx(10, abs=0.01)], [pytest.approx(20, abs=0.01), 48]]
    assert subtract([[10, 20]], 1, 48) == []
    assert subtract([[1, 9], [50, 60]], 10, 40) == [[1, 9], [50, 60]]


def test_a_take_written_again_owns_its_new_frames_only_and_others_lose_them():
    spans = {"a lip-sync": [[1.0, 48.0]], "b lip-sync": [[100.0, 124.0]]}
    shortened = after_write(spans, "a lip-sync", 1, 25)
    assert shortened == {"a lip-sync": [[1.0, 25.0]], "b lip-sync": [[100.0, 124.0]]}
    over = after_write(shortened, "c lip-sync", 20, 110)
    assert over["c lip-sync"] == [[20.0, 110.0]]
    assert over["a lip-sync"][0][1] == pytest.approx(20, abs=0.01) and over["b lip-sync"][0][0] == pytest.approx(110, abs=0.01)
    assert "a lip-sync" not in after_write(over, "d lip-sync", 0, 200), "a take with no frames left is dropped"


def test_the_takes_old_keys_go_and_every_other_key_stays():
    frames = np.array([1, 10, 30, 40, 40.5, 80, 100])
    generated = np.array([True, True, True, True, False, False, True])
    # The take covered 1-48 and is written again over 1-25; another take covers 100-124.
    kept = kept_keys(frames, generated, [[1, 48]], 1, 25)
    assert kept.tolist() == [False, False, False, False, True, True, True]
