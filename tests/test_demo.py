"""The main job (scripts/demo.py) end to end on a short clip of the bundled speech sample.

It drives the real extension in bpy with the real backend: with the shipped default model
when there is one, else with a tiny random-weight model of the same expression space.
"""
import json
import subprocess
import sys

import pytest
import soundfile as sf

from backend import DEFAULT_MODEL_DIR
from project import ROOT, isolated_env

DEMO = ROOT / "scripts" / "demo.py"
SAMPLE = ROOT / "assets" / "speech_sample.flac"
CLIP_SECONDS = 1.6

pytestmark = pytest.mark.blender  # every test here runs the demo, which runs Blender


def ffprobe_streams(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,duration", "-of", "json",
                          str(path)], capture_output=True, text=True, check=True)
    return {s["codec_type"]: float(s["duration"]) for s in json.loads(out.stdout)["streams"]}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    clip = tmp / "clip.flac"
    audio, rate = sf.read(SAMPLE, dtype="float32")
    sf.write(clip, audio[: int(CLIP_SECONDS * rate)], rate)
    args = [sys.executable, str(DEMO), "--out", str(tmp / "out"), "--audio", str(clip), "--size", "64", "--samples", "1"]
    if not (DEFAULT_MODEL_DIR / "config.json").is_file():
        from helpers import tiny_checkpoint

        args += ["--checkpoint", str(tiny_checkpoint(tmp / "tiny-arkit", "tiny-arkit", "arkit"))]
    proc = subprocess.run(args, env=isolated_env(tmp / "home"), cwd=tmp, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return tmp / "out", proc.stdout


def test_demo_prints_where_its_results_are(demo_run):
    out, stdout = demo_run
    for name in ("demo.blend", "demo.fbx", "preview.mp4", "preview_frames.png"):
        assert (out / name).is_file(), name
        assert str(out / name) in stdout, f"{name} is not named in the output"


def test_preview_video_has_picture_and_speech_of_the_clip_length(demo_run):
    out, _ = demo_run
    streams = ffprobe_streams(out / "preview.mp4")
    assert set(streams) == {"video", "audio"}
    assert streams["video"] == pytest.approx(CLIP_SECONDS, abs=0.1)
    assert streams["audio"] == pytest.approx(CLIP_SECONDS, abs=0.1)


def test_blend_and_fbx_hold_the_animation(demo_run, run_blender):
    out, _ = demo_run
    found = run_blender(
        """
        import bpy
        import numpy as np

        def summary():
            # Every F-curve of every Action (slotted on 4.4+), split by what it animates.
            curves = [fc for action in bpy.data.actions for layer in action.layers for strip in layer.strips
                      for bag in strip.channelbags for fc in bag.fcurves]
            keyed = [fc for fc in curves if fc.data_path.startswith("key_blocks")]
            values = []
            for fc in keyed:
                co = np.zeros(2 * len(fc.keyframe_points))
                fc.keyframe_points.foreach_get("co", co)
                values.append(co[1::2])
            bones = [fc for fc in curves if fc.data_path.startswith("pose.bones")]
            return {"shape_key_curves": len(keyed), "keys": sorted({len(v) for v in values}),
                    "moving": sum(float(np.ptp(v)) > 1e-4 for v in values), "bone_curves": len(bones)}

        bpy.ops.wm.open_mainfile(filepath=ARGS["blend"])
        scene = bpy.context.scene
        strips = [s for s in scene.sequence_editor.strips_all if s.type == "SOUND"]
        blend = summary()
        blend.update(frames=[scene.frame_start, scene.frame_end], packed=[s.sound.packed_file is not None for s in strips])
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.ops.import_scene.fbx(filepath=ARGS["fbx"], anim_offset=0.0)
        result({"blend": blend, "fbx": summary()})
        """,
        blend=str(out / "demo.blend"), fbx=str(out / "demo.fbx"),
    )
    frames = round(CLIP_SECONDS * 25)
    blend, fbx = found["blend"], found["fbx"]
    assert blend["frames"] == [1, frames] and blend["packed"] == [True], "the .blend carries its speech"
    assert blend["shape_key_curves"] >= 50 and blend["keys"] == [frames] and blend["bone_curves"] > 0, blend
    assert fbx["shape_key_curves"] >= 50 and fbx["keys"] == [frames], fbx
    assert fbx["moving"] > 10, "the FBX's shape keys are animated, not constant"
    assert fbx["bone_curves"] > 0, fbx


def test_demo_stops_with_a_clear_message_without_a_model(tmp_path):
    proc = subprocess.run([sys.executable, str(DEMO), "--out", str(tmp_path / "out"), "--checkpoint", str(tmp_path)],
                          env=isolated_env(tmp_path / "home"), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "no config.json" in proc.stderr and not (tmp_path / "out").exists()
