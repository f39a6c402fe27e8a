"""Live Link Face CSV and DiffPoseTalk-style imports, through the functions and the CLI."""
from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
import soundfile as sf

from backend.cli import import_data
from backend.data import importers
from backend.data.format import load_clip, read_manifest
from backend.expression_spaces import ARKIT_BLENDSHAPES, ARKIT_CHANNELS, ARKIT_JAW_OPEN_RADIANS

# Live Link Face's own column order (it differs from Apple's: JawRight before JawLeft...)
LLF_SHAPES = (
    "EyeBlinkLeft EyeLookDownLeft EyeLookInLeft EyeLookOutLeft EyeLookUpLeft EyeSquintLeft EyeWideLeft "
    "EyeBlinkRight EyeLookDownRight EyeLookInRight EyeLookOutRight EyeLookUpRight EyeSquintRight EyeWideRight "
    "JawForward JawRight JawLeft JawOpen MouthClose MouthFunnel MouthPucker MouthRight MouthLeft "
    "MouthSmileLeft MouthSmileRight MouthFrownLeft MouthFrownRight MouthDimpleLeft MouthDimpleRight "
    "MouthStretchLeft MouthStretchRight MouthRollLower MouthRollUpper MouthShrugLower MouthShrugUpper "
    "MouthPressLeft MouthPressRight MouthLowerDownLeft MouthLowerDownRight MouthUpperUpLeft MouthUpperUpRight "
    "BrowDownLeft BrowDownRight BrowInnerUp BrowOuterUpLeft BrowOuterUpRight CheekPuff CheekSquintLeft "
    "CheekSquintRight NoseSneerLeft NoseSneerRight TongueOut").split()
LLF_ANGLES = "HeadYaw HeadPitch HeadRoll LeftEyeYaw LeftEyePitch LeftEyeRoll RightEyeYaw RightEyePitch RightEyeRoll".split()


def _timecode(frame_number, fps=60, start_seconds=14 * 3600 + 3 * 60 + 52):
    seconds, frame = divmod(frame_number, fps)
    total = start_seconds + seconds
    return f"{total // 3600:02d}:{total // 60 % 60:02d}:{total % 60:02d}:{frame:02d}.000"


def _write_take(path, n_frames=150, fps=60, drop=range(60, 72), bad_lines=True):
    """A 2.5 s take at 60 fps: jawOpen ramps 0..1, smile-left 0.5, head yaw 0.1 (normalized),
    tongueOut 1; frames in ``drop`` are missing (a clock gap), two rows are broken."""
    header = ["Timecode", "BlendShapeCount"] + LLF_SHAPES + LLF_ANGLES
    lines = [",".join(header)]
    for k in range(n_frames):
        if k in drop:
            continue
        values = dict.fromkeys(LLF_SHAPES + LLF_ANGLES, 0.0)
        values.update(JawOpen=k / (n_frames - 1), MouthSmileLeft=0.5, TongueOut=1.0, HeadYaw=0.1)
        row = [_timecode(k, fps), "61"] + [f"{values[name]:.6f}" for name in LLF_SHAPES + LLF_ANGLES]
        lines.append(",".join(row))
        if bad_lines and k == 20:
            lines.append(",".join(row[:30]))  # truncated row
        if bad_lines and k == 30:
            lines.append(",".join([_timecode(k, fps), "61", "oops"] + row[3:]))  # not a number
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_audio(path, seconds):
    sf.write(path, np.random.default_rng(0).normal(scale=0.1, size=int(seconds * 48000)).astype(np.float32), 48000)
    return path


def test_live_link_reports_bad_rows_and_clock_gap(tmp_path):
    take = importers.read_live_link_csv(_write_take(tmp_path / "take.csv"))
    report = take.report
    assert report.capture_fps == 60.0
    assert report.rows_in == 150 - 12 + 2
    bad = report.of_kind("bad_row")
    assert [p.line for p in bad] == [23, 34]  # header is line 1; each bad row follows its good one
    assert "fields" in bad[0].detail and "not a number" in bad[1].detail
    [gap] = report.of_kind("clock_gap")
    assert gap.time_s == pytest.approx(59 / 60, abs=1e-6) and "12 frames missing" in gap.detail
    assert not report.ok
    assert "clock_gap" in report.summary() and "bad_row" in report.summary()


def test_live_link_motion_mapping(tmp_path):
    _write_take(tmp_path / "take.csv", bad_lines=False, drop=())
    clip, audio, report = importers.import_live_link_face(
        tmp_path / "take.csv", _write_audio(tmp_path / "take.wav", 63 / 25), "actor")
    assert report.ok
    assert clip.expression_space == "arkit" and clip.exp.shape == (63, 50)  # floor(149/60*25)+1
    assert len(audio) == 63 * 640
    # jawOpen -> jaw rotation about +X
    t = np.arange(63) / 25
    np.testing.assert_allclose(clip.pose[:, 3], t * 60 / 149 * ARKIT_JAW_OPEN_RADIANS, atol=1e-5)
    np.testing.assert_allclose(clip.pose[:, 4:], 0)
    # a pure yaw of 0.1 (normalized) is a rotation about +Y of 0.1 * 90 degrees
    np.testing.assert_allclose(clip.pose[:, :3], [[0, 0.1 * math.pi / 2, 0]] * 63, atol=1e-6)
    np.testing.assert_allclose(clip.exp[:, ARKIT_CHANNELS.index("mouthSmileLeft")], 0.5, atol=1e-6)
    assert "tongueOut" not in ARKIT_CHANNELS and "jawOpen" not in ARKIT_CHANNELS
    others = [i for i, name in enumerate(ARKIT_CHANNELS) if name != "mouthSmileLeft"]
    np.testing.assert_allclose(clip.exp[:, others], 0, atol=1e-7)


def test_head_rotation_order():
    # yaw then pitch on the turned head: not the same as adding rotation vectors
    vector = importers.head_rotation([0.5], [0.3], [0.0])[0]
    assert not np.allclose(vector, [0.3, 0.5, 0.0], atol=1e-3)
    assert np.linalg.norm(vector) > 0.5


def test_diffposetalk_import(tmp_path):
    rng = np.random.default_rng(0)
    exp, pose, shape = rng.normal(size=(75, 100)), rng.normal(scale=0.05, size=(75, 6)), rng.normal(size=(75, 300))
    np.savez(tmp_path / "clip.npz", exp=exp, pose=pose, shape=shape)
    _write_audio(tmp_path / "clip.wav", 3.0)
    clip, audio, report = importers.import_diffposetalk(tmp_path / "clip.npz", tmp_path / "clip.wav", "tfhp01")
    assert clip.expression_space == "flame" and clip.frames == 75 and len(audio) == 75 * 640
    np.testing.assert_allclose(clip.exp, exp[:, :50], rtol=1e-6)
    np.testing.assert_allclose(clip.pose, pose, rtol=1e-6)
    np.testing.assert_allclose(clip.shape, shape[:, :100].mean(axis=0), atol=1e-6)
    assert [p.kind for p in report.problems] == ["note"]  # 100 exp coefficients cut to 50


def test_import_data_command_adds_clips_and_prints_report(tmp_path, capsys):
    rng = np.random.default_rng(1)
    for name in ("a", "b"):
        np.savez(tmp_path / f"{name}.npz", exp=rng.normal(size=(120, 50)), pose=rng.normal(size=(120, 6)) * 0.05,
                 shape=rng.normal(size=100))
        _write_audio(tmp_path / f"{name}.wav", 4.8)
    _write_take(tmp_path / "take.csv")
    _write_audio(tmp_path / "take.wav", 149 / 60)
    parser = argparse.ArgumentParser()
    import_data.add_arguments(parser)
    corpus = tmp_path / "corpus"
    assert import_data.run(parser.parse_args([str(corpus), "--diffposetalk", str(tmp_path / "a.npz"),
                                             str(tmp_path / "b.npz"), "--speaker", "p1"])) == 0
    assert (corpus / "stats.npz").exists()
    records = read_manifest(corpus)
    assert sorted(r.id for r in records) == ["p1-a", "p1-b"]
    assert load_clip(corpus / records[0].motion).frames == 120
    status = import_data.run(parser.parse_args([str(tmp_path / "arkit"), "--live-link", str(tmp_path / "take.csv"),
                                               "--speaker", "actor", "--strict"]))
    out = capsys.readouterr().out
    assert status == 1 and "clock_gap" in out and "bad_row" in out and "skipped (--strict)" in out


def test_shape_names_cover_arkit():
    assert sorted(name.lower() for name in LLF_SHAPES) == sorted(name.lower() for name in ARKIT_BLENDSHAPES)


def test_diffposetalk_bad_frames_are_reported_and_bridged(tmp_path):
    exp = np.tile(np.arange(75, dtype=np.float64)[:, None], (1, 50))
    exp[0, 3] = np.nan
    exp[40, 0] = np.inf
    np.savez(tmp_path / "clip.npz", exp=exp, pose=np.zeros((75, 6)))
    _write_audio(tmp_path / "clip.wav", 3.0)
    clip, _, report = importers.import_diffposetalk(tmp_path / "clip.npz", tmp_path / "clip.wav", "s")
    assert [p.time_s for p in report.of_kind("bad_row")] == [0.0, 1.6]
    assert clip.frames == 75  # the timeline keeps its start
    np.testing.assert_allclose(clip.exp[40], 40.0)  # bridged between frames 39 and 41
    np.testing.assert_allclose(clip.exp[0], 1.0)  # the edge holds the first good frame
