"""How long applying a finished ten-minute take to the built-in head takes in Blender.

Times the add-on's main-thread step after a job ends (read the backend's .npz, write the
shape-key and bone Actions, set up the take), which is when Blender is blocked:

    .venv/bin/python benchmarks/addon_apply_take.py [--minutes 10] [--fps 30]

Runs bpy in this process with its user folders in a temporary directory.
"""
import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    home = tempfile.mkdtemp()
    os.environ.update(HOME=home, BLENDER_USER_RESOURCES=home)

    import bpy
    import numpy as np

    spec = importlib.util.spec_from_file_location("diffposetalk", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
    package = importlib.util.module_from_spec(spec)
    sys.modules["diffposetalk"] = package
    spec.loader.exec_module(package)
    package.register()
    from diffposetalk.addon import generation, rigs
    from diffposetalk.addon.core.jobs import DONE, Job

    scene = bpy.context.scene
    scene.render.fps = args.fps
    rig = rigs.add_builtin_head(bpy.context)
    frames = int(args.minutes * 60 * args.fps)
    rng = np.random.default_rng(0)
    timings = []
    for repeat in range(args.repeats):
        path = Path(home) / f"take{repeat}.npz"
        np.savez(path, exp=rng.uniform(0, 1, (frames, 50)).astype(np.float32),
                 pose=rng.normal(0, 0.1, (frames, 6)).astype(np.float32), fps=np.float64(args.fps),
                 expression_space="arkit", shape=np.zeros(100, np.float32))
        job = Job(kind=generation.JOB_KIND, steps=[], state=DONE, result={"outputs": [str(path)]},
                  context={"scene": scene.name, "rig": rig.name, "frame_start": 1.0, "fps": float(args.fps),
                           "action_name": "benchmark lip-sync", "request": {}})
        start = time.perf_counter()
        generation.apply_job(job)
        timings.append(time.perf_counter() - start)
    keys = sum(len(fc.keyframe_points) for action in bpy.data.actions if action.get("diffposetalk_take")
               for layer in action.layers for strip in layer.strips for bag in strip.channelbags for fc in bag.fcurves)
    print(f"bpy {bpy.app.version_string}: {args.minutes:g} min at {args.fps} fps = {frames} frames, "
          f"{keys} keys in the last take")
    print("apply take: " + ", ".join(f"{t:.3f} s" for t in timings) + f" (best {min(timings):.3f} s)")
    package.unregister()


if __name__ == "__main__":
    main()
