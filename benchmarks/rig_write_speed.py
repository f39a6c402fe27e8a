"""How long the rig side takes in bpy: adding the built-in head, and writing a 10-minute take.

    python benchmarks/rig_write_speed.py [--minutes 10] [--scene-fps 30]

Prints seconds for ``add_builtin_head`` and for ``write_motion`` of a random motion
(25 fps, 50 expression channels, head and jaw) onto that head, and for reading it back.
"""
import argparse
import importlib
import sys
import time
from pathlib import Path

import bpy
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--scene-fps", type=float, default=30.0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT.parent))   # the repository is the extension's package
    rigs = importlib.import_module(f"{ROOT.name}.addon.rigs")
    animation = importlib.import_module(f"{ROOT.name}.addon.animation")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = int(args.scene_fps), 1.0

    started = time.perf_counter()
    rig = rigs.add_builtin_head(bpy.context)
    print(f"add_builtin_head: {time.perf_counter() - started:.2f} s")

    frames = int(args.minutes * 60 * 25)
    rng = np.random.default_rng(0)
    motion = {"exp": rng.uniform(0, 1, (frames, 50)).astype(np.float32),
              "pose": rng.normal(0, 0.1, (frames, 6)).astype(np.float32), "fps": 25.0, "expression_space": "arkit"}
    started = time.perf_counter()
    result = animation.write_motion(rig, motion, 1, args.scene_fps, "benchmark")
    elapsed = time.perf_counter() - started
    print(f"write_motion: {frames} frames x 58 curves in {elapsed:.3f} s ({', '.join(result.actions)})")
    started = time.perf_counter()
    animation.read_motion(rig, 1, 1 + (frames - 1) * args.scene_fps / 25.0)
    print(f"read_motion: {time.perf_counter() - started:.3f} s")


if __name__ == "__main__":
    main()
