"""How long Generate Batch takes in Blender for a folder of recorded lines.

    nice .venv/bin/python benchmarks/batch_in_blender.py [--folder assets/real_speech] [--rigs 2] [--steps N]

Installs the extension zip (built by Blender's own builder) in bpy, puts every audio file
of the folder on the Sequencer as a sound strip (one after the other, a second apart),
adds ``--rigs`` built-in heads and gives the strips to them in turn, then runs Generate
Batch against the real backend (``python -m backend serve`` with the shipped default
model, CPU) and drains its events as Blender's timer would. Prints the wall time from the
button to the last take written (backend start and model load included, and without
them: from the first strip's start), the seconds of speech, the real-time factor, and how
long Blender's main thread was busy with the batch (applying the takes) in all.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from backend.audio_io import AUDIO_EXTENSIONS  # noqa: E402
from demo import PACKAGE as PKG, build_extension  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=ROOT / "assets" / "real_speech")
    parser.add_argument("--rigs", type=int, default=2, help="built-in heads the strips are given to in turn")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    parser.add_argument("--fps", type=int, default=25)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp())
    zip_path = build_extension(home / "build")
    os.environ.update(HOME=str(home), BLENDER_USER_RESOURCES=str(home / "blender"))

    import importlib

    import bpy

    bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default", enable_on_install=True)
    service = importlib.import_module(PKG + ".addon.service")
    prefs = bpy.context.preferences.addons[PKG].preferences
    prefs.python, prefs.device = sys.executable, "cpu"
    scene = bpy.context.scene
    scene.render.fps = args.fps
    if args.steps:
        scene.diffposetalk.quality, scene.diffposetalk.steps = "CUSTOM", args.steps
    rigs = []
    for _ in range(args.rigs):
        bpy.ops.diffposetalk.add_head(kind="BUILTIN")
        rigs.append(bpy.context.object)
    editor = scene.sequence_editor_create()
    files = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)
    frame, seconds = 1, 0.0
    for k, path in enumerate(files):
        strip = editor.strips.new_sound(path.stem, str(path), 1 + k % 2, frame)
        strip.diffposetalk_rig = rigs[k % len(rigs)]
        seconds += strip.frame_final_duration / args.fps
        frame = strip.frame_final_end + args.fps

    started = time.perf_counter()
    bpy.ops.diffposetalk.generate_batch()
    first_strip, blocked = None, 0.0
    while True:
        drained = time.perf_counter()
        busy = service.drain_events()   # the main thread's share: writing the takes
        blocked += time.perf_counter() - drained
        if not busy:
            break
        job = service.SESSION.job
        if first_strip is None and job is not None and job.steps and job.steps[0][0] == "generate":
            first_strip = time.perf_counter()   # the backend is up and the model loaded
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    report = bpy.context.window_manager.diffposetalk.message
    print(report)
    print(f"bpy {bpy.app.version_string}, {os.cpu_count()} cores: {len(files)} strips, {seconds:.1f} s of speech "
          f"on {args.rigs} rig(s) at {args.fps} fps, steps {args.steps or 'model default'}")
    generation_only = elapsed - (first_strip - started) if first_strip else float("nan")
    print(f"batch: {elapsed:.1f} s from the button to the last take ({seconds / elapsed:.2f}x real time); "
          f"{generation_only:.1f} s after the backend started and loaded the model "
          f"({seconds / generation_only:.2f}x real time); Blender's main thread busy {blocked:.2f} s of it")
    bpy.ops.extensions.package_uninstall(repo_directory=bpy.utils.user_resource("EXTENSIONS", path="user_default"),
                                         pkg_id="diffposetalk")


if __name__ == "__main__":
    main()
