"""The user guide's picture of Generate Batch: two heads, each speaking its own strip.

    .venv/bin/python scripts/guide_images/batch.py [--out docs/images/guide/batch.png]

Stages the scene like the demo (the extension installed from its zip in a throw-away
Blender user folder, the shipped default model), adds two built-in heads and two recorded
lines as sound strips, sets each strip's Rig, runs Generate Batch, and renders two frames
side by side: one where the left head's line plays (its jaw most open there) and one where
the right head's does.
"""
import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import demo  # noqa: E402

LINES = (("cards_002", -0.13, 1), ("goforward", 0.13, 70))   # strip, head's x, first frame


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "guide" / "batch.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="diffposetalk-guide-") as tmp:
        tmp = Path(tmp)
        os.environ.update(HOME=str(tmp / "home"), BLENDER_USER_RESOURCES=str(tmp / "blender"))
        guide = demo.Demo(demo.parse_args(["--size", "225", "--samples", "8"]), demo.build_extension(tmp / "build"))
        scene = guide.stage_scene()
        guide.install_extension()
        bpy = guide.bpy
        scene.render.resolution_x = 400
        camera = scene.camera
        guide.staging.aim(camera, 0.0, 3.0, target=(0.0, 0.0, -0.02), distance=1.45)
        editor = scene.sequence_editor_create()
        heads = []
        for name, x, frame in LINES:
            scene.cursor.location = (x, 0.0, 0.0)
            bpy.ops.diffposetalk.add_head(kind="BUILTIN")
            strip = editor.strips.new_sound(name, str(ROOT / "assets" / "real_speech" / f"{name}.flac"), 1, frame)
            strip.diffposetalk_rig = bpy.context.object
            heads.append((bpy.context.object, strip))
        bpy.ops.diffposetalk.generate_batch()
        while guide.service.drain_events():
            time.sleep(0.1)
        print(bpy.context.window_manager.diffposetalk.message)
        tiles = []
        for rig, strip in heads:
            frames = range(strip.frame_final_start, strip.frame_final_end)

            def jaw_opening(frame):
                scene.frame_set(frame)
                return 2 * math.acos(min(1.0, rig.pose.bones["jaw"].rotation_quaternion[0]))

            scene.frame_set(max(frames, key=jaw_opening))
            tiles.append(guide.staging.render_tile(scene, tmp / "tile.png"))
        guide.staging.save_grid(tiles, len(tiles), args.out)
        guide.stop()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
