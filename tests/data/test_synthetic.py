"""The synthetic corpus generator: determinism, mouth closures, augmentation, a tiny corpus."""
from __future__ import annotations

import argparse
import importlib.util

import numpy as np
import pytest

from backend.data.format import load_audio, load_clip, read_manifest
from backend.model.stats import load_stats
from backend.cli import synth_data
from backend.data.synthetic.augment import augment, pitch_shift
from backend.data.synthetic.generate import CorpusConfig, generate_corpus, make_clip
from backend.data.synthetic.visemes import CH, lip_aperture
from backend.speech.phones import PHONES, mouth_class

CONFIG = CorpusConfig(seed=5, n_clips=6, n_speakers=3, min_seconds=8.5, max_seconds=9.5)


@pytest.fixture(scope="module")
def clips():
    speakers = CONFIG.speakers()
    return [(speakers[i % CONFIG.n_speakers], *make_clip(CONFIG, i)) for i in range(3)]


def _frame_times(clip, lead_s=0.0):
    """Frame centres in the sound's time (lead 0: where the lips must meet, whatever the
    lead) or in the face's led time."""
    return (np.arange(clip.frames) + 0.5) / 25 + lead_s


def test_same_seed_same_clip(clips):
    _, clip, audio, meta = clips[1]
    again, audio_again, meta_again = make_clip(CONFIG, 1)
    np.testing.assert_array_equal(again.exp, clip.exp)
    np.testing.assert_array_equal(again.pose, clip.pose)
    np.testing.assert_array_equal(audio_again, audio)
    assert again.phones == clip.phones and meta_again == meta
    other, _, _ = make_clip(CorpusConfig(seed=6, n_clips=6, n_speakers=3, min_seconds=8.5, max_seconds=9.5), 1)
    assert other.frames != clip.frames or not np.allclose(other.exp, clip.exp)


def test_clip_format_and_ranges(clips):
    for speaker, clip, audio, meta in clips:
        assert clip.expression_space == "arkit" and clip.speaker == speaker.id
        assert clip.frames >= 200 and len(audio) == clip.frames * 640
        assert clip.exp.min() >= 0 and clip.exp.max() <= 1
        jaw = clip.pose[:, 3]
        assert 0 <= jaw.min() and jaw.max() < 0.45 and jaw.max() > 0.1
        np.testing.assert_array_equal(clip.pose[:, 4:], 0)
        assert np.abs(clip.pose[:, :3]).max() < 0.4 and clip.pose[:, :3].std(axis=0).min() > 1e-3
        assert all(p in PHONES for p, _, _ in clip.phones)
        assert clip.phones[0][1] == 0 and abs(clip.phones[-1][2] - len(audio) / 16000) < 1e-6
        assert meta["text"]


def _segment_frames(clips, kind):
    """(speaker, clip, phone, frames) for each segment of mouth class ``kind``: the frames
    inside it, or the one nearest its middle when it is shorter than a frame."""
    for speaker, clip, _, _ in clips:
        times = _frame_times(clip)
        for phone, start, end in clip.phones:
            if mouth_class(phone) == kind:
                inside = np.flatnonzero((times >= start) & (times < end))
                if len(inside) == 0:
                    inside = np.array([np.argmin(np.abs(times - (start + end) / 2))])
                yield speaker, clip, phone, inside


def test_bilabials_close_the_mouth(clips):
    closures = 0
    for speaker, clip, phone, frames in _segment_frames(clips, "bilabial"):
        aperture = lip_aperture(clip.exp[frames], clip.pose[frames, 3])
        assert aperture.max() < 0.02, phone
        assert clip.pose[frames, 3].max() < speaker.style.rest_jaw + 0.02
        closures += 1
    assert closures > 10


def test_labiodentals_tuck_the_lower_lip(clips):
    count = 0
    for speaker, clip, _, frames in _segment_frames(clips, "labiodental"):
        assert clip.pose[frames, 3].max() < speaker.style.rest_jaw + 0.045
        assert clip.exp[frames, CH["mouthRollLower"]].min() > 0.3
        count += 1
    assert count > 3


def test_open_vowels_open_the_mouth(clips):
    speaker, clip, _, _ = clips[0]
    aperture = lip_aperture(clip.exp, clip.pose[:, 3])
    times = _frame_times(clip, speaker.style.lead_s)
    open_frames = [k for p, s, e in clip.phones if mouth_class(p) == "open_vowel" and e - s > 0.08
                   for k in np.flatnonzero((times >= s) & (times < e))]
    assert np.median(aperture[open_frames]) > 0.15


def test_silence_rests_closed(clips):
    checked = 0
    for speaker, clip, _, _ in clips:
        times = _frame_times(clip, speaker.style.lead_s)
        aperture = lip_aperture(clip.exp, clip.pose[:, 3])
        for phone, start, end in clip.phones:
            if phone != "SIL" or end - start < 0.5:
                continue
            frames = np.flatnonzero((times >= start + 0.2) & (times < end - 0.2))
            assert aperture[frames].max() < 0.05
            assert clip.pose[frames, 3].max() < speaker.style.rest_jaw + 0.02
            checked += len(frames)
    assert checked > 5


def test_augmentation_changes_audio_and_keeps_length():
    t = np.arange(16000) / 16000
    clean = (0.2 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    steps = set()
    for seed in range(8):
        out, done = augment(clean, np.random.default_rng(seed))
        assert out.shape == clean.shape and out.dtype == np.float32
        assert np.abs(out).max() <= 1.0 and "level_db" in done
        assert not np.allclose(out, clean, atol=1e-3)
        steps |= set(done)
    assert {"noise", "rt60_s", "eq", "band_hz", "pitch_semitones"} <= steps
    shifted = pitch_shift(clean, 2.0)
    assert shifted.shape == clean.shape
    spectrum = np.abs(np.fft.rfft(shifted[2000:14000]))
    peak_hz = np.argmax(spectrum) * 16000 / 12000
    assert peak_hz == pytest.approx(180 * 2 ** (2 / 12), rel=0.03)


def test_small_corpus_end_to_end(tmp_path, clips):
    config = CorpusConfig(seed=5, n_clips=3, n_speakers=3, min_seconds=8.5, max_seconds=9.5)
    summary = generate_corpus(tmp_path, config, workers=2)
    assert summary["clips_made"] == 3 and summary["audio_seconds_made"] > 25
    records = read_manifest(tmp_path)
    assert len(records) == 3 and {r.split for r in records} == {"train", "val", "test"}
    assert all(r.meta.get("text") for r in records)
    stats = load_stats(tmp_path)
    assert stats["exp_std"].shape == (50,) and (stats["pose_std"][:4] > 0).all()
    # written by a worker process == made here (audio up to 16-bit rounding)
    by_id = {r.id: r for r in records}
    for index, (_, clip, audio, _) in enumerate(clips):
        record = by_id[f"clip{index:06d}"]
        written = load_clip(tmp_path / record.motion)
        np.testing.assert_array_equal(written.exp, clip.exp)
        assert written.phones == clip.phones
        np.testing.assert_allclose(load_audio(tmp_path / record.audio), np.clip(audio, -1, 1), atol=1.1 / 32768)
    # resume: nothing to do; a lost clip is made again, identical
    assert generate_corpus(tmp_path, config)["clips_made"] == 0
    (tmp_path / by_id["clip000001"].motion).unlink()
    assert generate_corpus(tmp_path, config)["clips_made"] == 1
    np.testing.assert_array_equal(load_clip(tmp_path / by_id["clip000001"].motion).exp, clips[1][1].exp)
    assert len(read_manifest(tmp_path)) == 3 and read_manifest(tmp_path)[0].meta.get("text")


def test_dataset_over_generated_corpus(tmp_path):
    pytest.importorskip("torch")
    from backend.data.dataset import MotionWindows

    config = CorpusConfig(seed=2, n_clips=2, n_speakers=2, min_seconds=8.5, max_seconds=9.0, val_fraction=0,
                          test_fraction=0)
    generate_corpus(tmp_path, config)
    data = MotionWindows(tmp_path, phone_features=importlib.util.find_spec("backend.speech.features") is not None)
    item = data[0]
    assert item["exp"].shape == (200, 50) and item["audio"].shape == (128000,)
    if "features" in item:
        assert item["features"].shape[0] == 200


def test_cli_hours_and_refuses_other_settings(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    synth_data.add_arguments(parser)
    args = parser.parse_args([str(tmp_path), "--clips", "1", "--speakers", "3", "--workers", "1",
                              "--min-seconds", "8.5", "--max-seconds", "8.6"])
    assert synth_data.run(args) == 0
    assert '"clips_made": 1' in capsys.readouterr().out
    with pytest.raises(ValueError, match="another configuration"):
        synth_data.run(parser.parse_args([str(tmp_path), "--clips", "1", "--speakers", "4", "--workers", "1"]))
