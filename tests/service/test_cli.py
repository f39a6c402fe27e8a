"""``python -m backend generate`` and ``batch`` as real subprocesses, and device choice."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from backend import device, motion_io

from project import ROOT


def backend(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "backend", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_generate_one_file(checkpoint, audio, tmp_path, flame_clip):
    output = tmp_path / "line.npz"
    proc = backend("generate", audio["ogg"], "-o", output, "--checkpoint", checkpoint, "--fps", 24,
                   "--style", flame_clip, "--variations", 1, "--seed", 2, "--head-motion-scale", 0.5,
                   "--jaw-scale", 1.3, "--lip-sync-offset", -2, "--smoothing", 0.25)
    assert proc.stdout.strip() == str(output)
    with np.load(output) as data:
        assert data["exp"].shape[1] == 50 and float(data["fps"]) == 24.0
        settings = json.loads(str(data["settings"]))
        assert data["raw_exp"].shape == data["exp"].shape
    assert settings["style"] == {"kind": "clip", "path": str(flame_clip)} and settings["head_motion_scale"] == 0.5
    assert (settings["jaw_scale"], settings["lip_sync_offset"], settings["smoothing"]) == (1.3, -2, 0.25)
    proc = backend("generate", audio["ogg"], "-o", tmp_path / "x.npz", "--checkpoint", checkpoint,
                   "--brow-scale", 1.5, check=False)
    assert proc.returncode == 1 and "error [invalid_params]" in proc.stderr and "brow_scale" in proc.stderr


def test_generate_reports_errors_with_their_code(checkpoint, audio, tmp_path):
    proc = backend("generate", audio["corrupt"], "-o", tmp_path / "x.npz", "--checkpoint", checkpoint, check=False)
    assert proc.returncode == 1 and "error [corrupt_audio]" in proc.stderr
    proc = backend("generate", audio["wav"], "--checkpoint", checkpoint, "--fps", -3, check=False)
    assert proc.returncode == 1 and "error [invalid_params]" in proc.stderr and "fps" in proc.stderr
    proc = backend("generate", audio["wav"], "--checkpoint", tmp_path / "none", check=False)
    assert proc.returncode == 1 and "error [file_not_found]" in proc.stderr


def test_batch_skips_done_lines_reports_failures_and_keeps_going(checkpoint, audio, tmp_path):
    lines = tmp_path / "lines"
    (lines / "scene2").mkdir(parents=True)
    shutil.copy(audio["wav"], lines / "a.wav")
    shutil.copy(audio["mp3"], lines / "scene2" / "b.mp3")
    shutil.copy(audio["corrupt"], lines / "c.wav")
    shutil.copy(audio["short"], lines / "d.flac")
    (lines / "notes.txt").write_text("not a line")
    out = tmp_path / "out"
    first = backend("batch", lines, "--out", out, "--checkpoint", checkpoint, check=False)
    assert first.returncode == 1
    assert (out / "a.npz").exists() and (out / "scene2" / "b.npz").exists()
    assert not (out / "c.npz").exists() and not (out / "d.npz").exists()
    report = json.loads((out / "batch_report.json").read_text())
    assert {item["code"] for item in report["failed"]} == {"corrupt_audio", "audio_too_short"}
    assert len(report["done"]) == 2 and report["skipped"] == []
    assert "FAILED" in first.stdout and "c.wav" in first.stdout
    stamp = (out / "a.npz").stat().st_mtime_ns
    second = backend("batch", lines, "--out", out, "--checkpoint", checkpoint, check=False)
    report = json.loads((out / "batch_report.json").read_text())
    assert len(report["skipped"]) == 2 and report["done"] == [] and len(report["failed"]) == 2
    assert (out / "a.npz").stat().st_mtime_ns == stamp and second.returncode == 1


def test_device_choice_without_and_with_torch():
    assert device.predict_device("auto") in ("cpu", "cuda", "mps")
    assert device.predict_device("cuda:1") == "cuda:1"
    with pytest.raises(device.DeviceUnavailable):
        device.predict_device("tpu")
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert str(device.choose_device("auto")) == expected == device.predict_device("auto")
    if not torch.cuda.is_available():
        with pytest.raises(device.DeviceUnavailable, match="--device cpu"):
            device.choose_device("cuda")


def test_thread_count_follows_the_usable_cores():
    usable = len(os.sched_getaffinity(0))
    assert device.cpu_thread_count() == max(1, min(usable // 2, device.MAX_CPU_THREADS))
    assert device.cpu_thread_count(3) == 3
    with pytest.raises(ValueError):
        device.cpu_thread_count(0)


@pytest.mark.slow
def test_generate_with_a_released_diffposetalk_checkpoint(tmp_path, audio):
    from helpers import tiny_loaded, write_released

    denoiser, style_encoder, stats = write_released(tmp_path, tiny_loaded(audio="hubert"))
    output = tmp_path / "released.npz"
    backend("generate", audio["wav"], "-o", output, "--checkpoint", denoiser, "--style-encoder", style_encoder,
            "--stats", stats, "--sampler", "ddim", "--steps", 2)
    with np.load(output) as data:
        assert data["exp"].shape[1] == 50 and data["pose"].shape[1] == 6
        assert json.loads(str(data["settings"]))["model"] == "head-SA-hubert-WM"
    missing = backend("generate", audio["wav"], "-o", output, "--checkpoint", denoiser, check=False)
    assert missing.returncode == 1 and "error [model_load_failed]" in missing.stderr
    assert "style encoder" in missing.stderr


class _RunsCode:
    def __reduce__(self):
        return (print, ("this pickle runs code",))


def test_import_checkpoint_prints_one_coded_line_instead_of_a_traceback(tmp_path):
    import torch

    torch.save({"model": _RunsCode()}, tmp_path / "evil.pt")
    (tmp_path / "notes.pt").write_text("not a checkpoint\n")
    for bad in ("evil.pt", "notes.pt"):
        path = tmp_path / bad
        proc = backend("import-checkpoint", path, path, tmp_path / "stats.npz", tmp_path / "out", check=False)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.strip().splitlines() == [proc.stderr.strip()], proc.stderr
        assert proc.stderr.startswith("error [model_load_failed]: ") and str(path) in proc.stderr
        assert "this pickle runs code" not in proc.stdout and not (tmp_path / "out").exists()


def test_regenerate_a_range_of_a_take(checkpoint, audio, tmp_path):
    take, edit = tmp_path / "take.npz", tmp_path / "take_edit.npz"
    backend("generate", audio["wav"], "-o", take, "--checkpoint", checkpoint, "--fps", 24)
    backend("generate", audio["wav"], "-o", edit, "--checkpoint", checkpoint, "--fps", 24, "--seed", 3,
            "--from-take", take, "--regenerate", 0.5, 1.0)
    with np.load(take) as before, np.load(edit) as after:
        assert after["exp"].shape == before["exp"].shape
        inside = np.zeros(len(before["exp"]), bool)
        inside[12:24] = True  # 0.5 s to 1.0 s at 24 fps
        assert np.array_equal(after["exp"][~inside], before["exp"][~inside])
        assert np.array_equal(after["pose"][~inside], before["pose"][~inside])
        assert not np.allclose(after["exp"][inside], before["exp"][inside])
        settings = json.loads(str(after["settings"]))
    assert settings["keep"] == {"take": str(take), "regenerate": [0.5, 1.0]}
    proc = backend("generate", audio["wav"], "-o", edit, "--checkpoint", checkpoint, "--regenerate", 0.5, 1.0,
                   check=False)
    assert proc.returncode == 1 and "error [invalid_params]" in proc.stderr and "--from-take" in proc.stderr


def test_generate_a_word_of_a_take_again_and_keep_frames_with_a_blend(checkpoint, audio, tmp_path):
    take, worded, edit = tmp_path / "take.npz", tmp_path / "worded.npz", tmp_path / "edit.npz"
    backend("generate", audio["wav"], "-o", take, "--checkpoint", checkpoint, "--fps", 24)
    proc = backend("generate", audio["wav"], "-o", edit, "--checkpoint", checkpoint, "--from-take", take,
                   "--regenerate-word", 0, check=False)
    assert proc.returncode == 1 and "the take has 0 timed words" in proc.stderr and "--regenerate START" in proc.stderr
    # The tiny model reads no words; the take is given some, as the shipped model times them.
    motion = motion_io.load_motion(take)
    words = [{"word": "one", "start": 0.1, "end": 0.4}, {"word": "two", "start": 0.55, "end": 0.8}]
    motion_io.save_motion(worded, motion, {**motion["settings"], "words": words})
    backend("generate", audio["wav"], "-o", edit, "--checkpoint", checkpoint, "--fps", 24, "--seed", 3,
            "--from-take", worded, "--regenerate-word", 1, "--word-margin", 0.05)
    after = motion_io.load_motion(edit)
    assert after["settings"]["keep"]["regenerate"] == pytest.approx([0.5, 0.85])
    inside = np.zeros(len(motion["exp"]), bool)
    inside[12:20] = True  # 0.5 s to 0.85 s at 24 fps: frames 12 to 19 (20.4 rounds to 20)
    assert np.array_equal(after["exp"][~inside], motion["exp"][~inside])
    assert not np.allclose(after["exp"][inside], motion["exp"][inside])
    proc = backend("generate", audio["wav"], "-o", edit, "--checkpoint", checkpoint, "--from-take", worded,
                   "--regenerate-word", 2, check=False)
    assert proc.returncode == 1 and "0 'one' (0.10-0.40 s), 1 'two' (0.55-0.80 s)" in proc.stderr
    backend("generate", audio["wav"], "-o", edit, "--checkpoint", checkpoint, "--fps", 24, "--from-take", take,
            "--keep-frames", 10, "--blend", 4)
    assert motion_io.load_motion(edit)["settings"]["keep"] == {"take": str(take), "frames": [10], "blend": 4}
