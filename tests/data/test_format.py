"""Corpus format, per-window stats and the training-sample dataset."""
from __future__ import annotations

import numpy as np
import pytest

from backend.data.format import (Clip, DatasetFormatError, assign_splits, load_audio, load_clip, merge_manifest,
                                 read_manifest, save_clip, write_clip)
from backend.data.stats import compute_corpus_stats, compute_stats, save_stats
from backend.model.stats import load_stats, normalize
from backend.timebase import SAMPLES_PER_FRAME


def _clip(frames, speaker="s1", seed=0, space="flame", phones=None):
    rng = np.random.default_rng(seed)
    return Clip(exp=rng.normal(size=(frames, 50)), pose=rng.normal(scale=0.1, size=(frames, 6)),
                expression_space=space, speaker=speaker,
                shape=rng.normal(size=100) if space == "flame" else None, phones=phones)


def _audio(frames, seed=0):
    return (np.random.default_rng(seed).normal(scale=0.1, size=frames * SAMPLES_PER_FRAME)).astype(np.float32)


def test_clip_round_trip(tmp_path):
    clip = _clip(30, phones=[("SIL", 0.0, 0.2), ("M", 0.2, 0.31), ("AA", 0.31, 1.2)])
    save_clip(tmp_path / "c.npz", clip)
    back = load_clip(tmp_path / "c.npz")
    np.testing.assert_array_equal(back.exp, clip.exp)
    np.testing.assert_array_equal(back.pose, clip.pose)
    np.testing.assert_array_equal(back.shape, clip.shape)
    assert back.phones == clip.phones
    assert (back.speaker, back.expression_space, back.fps) == ("s1", "flame", 25.0)
    # plain numpy readers see the documented keys without pickle
    with np.load(tmp_path / "c.npz", allow_pickle=False) as data:
        assert {"exp", "pose", "shape", "fps", "expression_space", "speaker"} <= set(data.files)


def test_clip_rejects_wrong_shapes():
    with pytest.raises(DatasetFormatError, match="pose"):
        Clip(exp=np.zeros((10, 50)), pose=np.zeros((9, 6)), expression_space="arkit", speaker="a")
    with pytest.raises(DatasetFormatError, match="expression_space"):
        Clip(exp=np.zeros((10, 50)), pose=np.zeros((10, 6)), expression_space="blend", speaker="a")


def test_written_clip_audio_round_trip_and_partial_read(tmp_path):
    clip, audio = _clip(50), _audio(50)
    record = write_clip(tmp_path, "c1", clip, audio, "train", source="test")
    merge_manifest(tmp_path, [record])
    [back] = read_manifest(tmp_path)
    assert back == record and back.frames == 50
    full = load_audio(tmp_path / back.audio)
    assert len(full) == len(audio)
    np.testing.assert_allclose(full, audio, atol=1 / 32768 + 1e-6)  # 16-bit FLAC
    part = load_audio(tmp_path / back.audio, start_frame=10, frames=5)
    np.testing.assert_array_equal(part, full[10 * SAMPLES_PER_FRAME:15 * SAMPLES_PER_FRAME])


def test_manifest_keeps_splits_per_speaker(tmp_path):
    merge_manifest(tmp_path, [write_clip(tmp_path, "a", _clip(5), _audio(5), "test")])
    with pytest.raises(DatasetFormatError, match="splits are per speaker"):
        merge_manifest(tmp_path, [write_clip(tmp_path, "b", _clip(5), _audio(5), "train")])


def test_assign_splits_by_speaker_is_deterministic():
    speakers = [f"s{i}" for i in range(20)]
    splits = assign_splits(speakers, 0.1, 0.2, seed=3)
    assert splits == assign_splits(list(reversed(speakers)), 0.1, 0.2, seed=3)
    counts = {name: list(splits.values()).count(name) for name in ("train", "val", "test")}
    assert counts == {"train": 14, "val": 2, "test": 4}


def test_stats_std_is_mean_of_per_window_stds():
    clips = [_clip(250, seed=1), _clip(130, seed=2)]  # windows: 2 + 1 full, tails 50 and 30
    stats = compute_stats(clips)
    # by hand: the three full windows, std over time in each, then their mean
    windows = [clips[0].exp[0:100], clips[0].exp[100:200], clips[1].exp[0:100]]
    expected_std = np.mean([w.std(axis=0) for w in windows], axis=0)
    np.testing.assert_allclose(stats["exp_std"], expected_std, rtol=1e-5)
    all_exp = np.concatenate([c.exp for c in clips])
    np.testing.assert_allclose(stats["exp_mean"], all_exp.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats["exp_max"], all_exp.max(axis=0))
    # not the global std
    assert not np.allclose(stats["exp_std"], all_exp.std(axis=0), rtol=1e-3)
    pose_windows = [clips[0].pose[0:100], clips[0].pose[100:200], clips[1].pose[0:100]]
    np.testing.assert_allclose(stats["pose_std"], np.mean([w.std(axis=0) for w in pose_windows], axis=0), rtol=1e-5)
    shapes = np.stack([c.shape for c in clips])
    np.testing.assert_allclose(stats["shape_std"], shapes.std(axis=0), rtol=1e-4, atol=1e-6)


def test_stats_file_layout(tmp_path):
    stats = compute_stats([_clip(120)])
    save_stats(tmp_path / "stats.npz", stats)
    with np.load(tmp_path / "stats.npz") as data:
        assert sorted(data.files) == sorted(f"{g}_{s}" for g in ("shape", "exp", "pose")
                                            for s in ("mean", "std", "max", "min"))
        assert data["exp_std"].shape == (50,) and data["pose_mean"].shape == (6,) and data["shape_min"].shape == (100,)
    assert set(load_stats(tmp_path)) == set(stats)


def test_stats_need_a_full_window():
    with pytest.raises(DatasetFormatError, match="100 frames"):
        compute_stats([_clip(99)])


def _corpus(root, lengths):
    records = []
    for i, frames in enumerate(lengths):
        records.append(write_clip(root, f"c{i}", _clip(frames, speaker=f"s{i % 2}", seed=i), _audio(frames, i), "train"))
    merge_manifest(root, records)
    save_stats(root / "stats.npz", compute_corpus_stats(root))
    return records


def test_dataset_yields_two_consecutive_normalized_windows(tmp_path):
    torch = pytest.importorskip("torch")
    from backend.data.dataset import MotionWindows

    _corpus(tmp_path, [260, 150, 230])
    data = MotionWindows(tmp_path, seed=0)
    assert len(data) == 2 and data.skipped == ["c1"]
    stats = load_stats(tmp_path)
    for index in range(len(data)):
        item = data[index]
        assert item["exp"].shape == (200, 50) and item["pose"].shape == (200, 6)
        assert item["audio"].shape == (200 * 640,) and item["shape"].shape == (100,)
        assert item["exp"].dtype == torch.float32
        record = data.records[index]
        clip = load_clip(tmp_path / record.motion)
        start = int(item["start"])
        assert 0 <= start <= clip.frames - 200
        np.testing.assert_allclose(item["exp"].numpy(), normalize(clip.exp[start:start + 200], stats, "exp"), rtol=1e-5)
        audio = load_audio(tmp_path / record.audio)
        np.testing.assert_array_equal(item["audio"].numpy(), audio[start * 640:(start + 200) * 640])
    starts = {int(data[0]["start"]) for _ in range(8)}
    assert len(starts) > 1  # random crops
    fixed = MotionWindows(tmp_path, random_crop=False)
    assert int(fixed[0]["start"]) == 0
    batch = next(iter(torch.utils.data.DataLoader(data, batch_size=2)))
    assert batch["exp"].shape == (2, 200, 50) and batch["speaker"].shape == (2,)
