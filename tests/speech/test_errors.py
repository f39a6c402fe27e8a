import numpy as np
import pytest

from backend.speech.errors import CONFUSION_GROUPS, WEAK_PHONES, ErrorModel
from backend.speech.phones import PHONES, SILENCE

SPEECH = [p for p in PHONES if p != SILENCE]
OFF = dict(substitution=0.0, deletion_short=0.0, deletion_long=0.0, insertion=0.0, jitter_s=0.0, silence=0.0)


def _truth(n=20000, seed=1):
    """n phones with durations 20-200 ms, a pause every 12 phones."""
    rng = np.random.default_rng(seed)
    segments, t = [], 0.0
    for k in range(n):
        phone = SILENCE if k % 12 == 0 else SPEECH[rng.integers(len(SPEECH))]
        length = rng.uniform(0.02, 0.2)
        segments.append((phone, t, t + length))
        t += length
    return segments


def _check_valid(out, truth):
    assert out[0][1] == 0.0 and out[-1][2] == pytest.approx(truth[-1][2])
    for (_, _, end), (_, start, _) in zip(out, out[1:]):
        assert start == pytest.approx(end)
    assert all(p in PHONES and b > a for p, a, b in out)


def test_substitution_rate_and_confusion_structure():
    truth = _truth()
    model = ErrorModel(**{**OFF, "substitution": 0.3, "within_group": 0.7})
    out = model.corrupt(truth, np.random.default_rng(0))
    _check_valid(out, truth)
    speech = [(t[0], o[0]) for t, o in zip(truth, out) if t[0] != SILENCE]
    assert len(out) == len(truth)
    changed = [(a, b) for a, b in speech if a != b]
    assert len(changed) / len(speech) == pytest.approx(0.3, abs=0.015)
    in_group = np.mean([any(a in g and b in g for g in CONFUSION_GROUPS) for a, b in changed])
    # 70% drawn within the group, plus the share of random picks that land in it
    assert 0.7 < in_group < 0.8
    assert all(a == b for a, b in zip(truth, out) if a[0] == SILENCE)


def test_weak_consonants_are_heard_as_silence():
    truth = _truth()
    out = ErrorModel(**{**OFF, "silence": 0.2}).corrupt(truth, np.random.default_rng(0))
    _check_valid(out, truth)
    weak = [s for s in truth if s[0] in WEAK_PHONES]
    starts = np.array([o[1] for o in out])
    heard = [out[np.searchsorted(starts, (a + b) / 2) - 1][0] for _, a, b in weak]
    silenced = heard.count(SILENCE)
    assert silenced / len(weak) == pytest.approx(0.2, abs=0.02)
    kept = {round(a, 9) for p, a, _ in out if p not in WEAK_PHONES and p != SILENCE}
    assert kept == {round(a, 9) for p, a, _ in truth if p not in WEAK_PHONES and p != SILENCE}


def test_short_phones_are_dropped_more_often():
    truth = _truth()
    model = ErrorModel(**{**OFF, "deletion_short": 0.3, "deletion_long": 0.05, "short_s": 0.05})
    out = model.corrupt(truth, np.random.default_rng(0))
    _check_valid(out, truth)
    short = [s for s in truth if s[0] != SILENCE and s[2] - s[1] < 0.05]
    long = [s for s in truth if s[0] != SILENCE and s[2] - s[1] >= 0.05]
    n_speech = sum(s[0] != SILENCE for s in truth)
    n_out = sum(s[0] != SILENCE for s in out)
    expected = 0.3 * len(short) + 0.05 * len(long)
    assert n_speech - n_out == pytest.approx(expected, rel=0.08)


def test_insertions_add_phones_inside_long_ones():
    truth = _truth()
    model = ErrorModel(**{**OFF, "insertion": 0.1})
    out = model.corrupt(truth, np.random.default_rng(0))
    _check_valid(out, truth)
    eligible = sum(s[0] != SILENCE and s[2] - s[1] >= 3 * model.min_s for s in truth)
    # each insertion splits a phone in two around the new one: +2 segments
    assert (len(out) - len(truth)) / 2 == pytest.approx(0.1 * eligible, rel=0.1)


def test_boundary_jitter_has_the_set_scale():
    truth = _truth()
    model = ErrorModel(**{**OFF, "jitter_s": 0.02, "min_s": 0.0})
    out = model.corrupt(truth, np.random.default_rng(0))
    _check_valid(out, truth)
    assert [p for p, _, _ in out] == [p for p, _, _ in truth]
    shifts = np.array([o[1] - t[1] for o, t in zip(out[1:], truth[1:])])
    # Laplace(b): mean absolute shift is b; ordering constraints trim only the tails
    assert np.mean(np.abs(shifts)) == pytest.approx(0.02, rel=0.1)
    assert abs(np.mean(shifts)) < 0.002


def test_jitter_keeps_segments_at_least_min_long():
    truth = _truth(2000)
    model = ErrorModel(**{**OFF, "jitter_s": 0.05, "min_s": 0.03})
    out = model.corrupt(truth, np.random.default_rng(3))
    for (p, a, b), (q, c, d) in zip(out, truth):
        assert b - a >= min(d - c, 0.03) - 1e-9


def test_defaults_corrupt_every_kind_and_are_reproducible():
    truth = _truth(3000)
    out = ErrorModel().corrupt(truth, np.random.default_rng(7))
    _check_valid(out, truth)
    assert out == ErrorModel().corrupt(truth, np.random.default_rng(7))
    assert out != ErrorModel().corrupt(truth, np.random.default_rng(8))
    assert ErrorModel().corrupt([], np.random.default_rng(0)) == []
