"""How much a take adds to a .blend, and how long opening the file takes to read it back.

    nice .venv/bin/python benchmarks/packed_take.py [--checkpoint DIR] [--variations 3]

Makes a take of 30 s of real speech (assets/real_speech, through ``tests/recordings``)
with the model through the service's Runner at 25 fps, as Generate Lip-Sync does (its
variations in one job), once with neutral adjustments and once with the jaw at 1.3 (then
each variation's raw motion is stored beside the adjusted one). Then, in bpy (a process
of its own: torch and Blender never share one), each take is written onto the built-in
head as the add-on does after a job (``generation._write``: keys, and the take packed
into the scene), the file is saved with and without the packed take, and opened again:
the difference in file size is what the take adds; ``take_from_file`` (run by opening the
file, undo and redo) is timed on its own.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def make_takes(checkpoint: str, variations: int, folder: Path) -> list:
    """[(label, [motion files])] of a 30 s take, neutral and with the jaw at 1.3."""
    import soundfile as sf

    from backend import protocol
    from backend.service.runner import Runner
    from recordings import real_speech

    audio, words = real_speech(30.0)
    sf.write(folder / "speech.wav", audio, 16000)
    runner = Runner("cpu")
    runner.load(checkpoint)
    takes = []
    try:
        for jaw in (1.0, 1.3):
            request = {"audio": str(folder / "speech.wav"), "output": str(folder / f"take_{jaw:g}.npz"), "fps": 25.0,
                       "n_variations": variations, "jaw_scale": jaw, "transcript": words}
            result = runner.generate(protocol.validate_params(protocol.Method.GENERATE, request))
            takes.append((f"jaw {jaw:g}", result["outputs"]))
    finally:
        runner.close()
    return takes


def in_blender(takes: list, folder: Path, repeats: int) -> list:
    """Rows measured in bpy for each take (run as ``--blender``)."""
    home = tempfile.mkdtemp()
    os.environ.update(HOME=home, BLENDER_USER_RESOURCES=home)
    import bpy

    from project import import_extension_package

    package = import_extension_package()
    package.register()
    from backend import motion_io
    from diffposetalk.addon import generation

    rows = []
    for label, paths in takes:
        for count in sorted({1, len(paths)}):
            bpy.ops.wm.read_homefile(use_empty=True)
            scene = bpy.context.scene
            scene.render.fps = 25
            bpy.ops.diffposetalk.add_head(kind="BUILTIN")
            rig = bpy.context.object
            motions = [motion_io.load_motion(path) for path in paths[:count]]
            generation.TAKES.replace(motions, scene=scene.name, rig=rig.name, frame_start=1, fps=25.0,
                                     action_name="speech lip-sync", request={"audio": "speech.wav", "seed": 0})
            started = time.perf_counter()
            generation._write(scene, rig, 0)
            write = time.perf_counter() - started
            packed = len(scene[generation.PACKED_TAKE_PROP])
            with_take, without = folder / "with_take.blend", folder / "without_take.blend"
            bpy.ops.wm.save_as_mainfile(filepath=str(with_take), copy=True, compress=False)
            del scene[generation.PACKED_TAKE_PROP]
            bpy.ops.wm.save_as_mainfile(filepath=str(without), copy=True, compress=False)
            opened = []
            for _ in range(repeats):
                started = time.perf_counter()
                bpy.ops.wm.open_mainfile(filepath=str(with_take))
                opened.append(time.perf_counter() - started)
            assert generation.TAKES.count == count
            read = []
            for _ in range(repeats):
                generation._packed = b""   # as after opening another file
                started = time.perf_counter()
                generation.take_from_file()
                read.append(time.perf_counter() - started)
            rows.append({"take": label, "variations": count, "frames": len(motions[0]["exp"]), "packed": packed,
                         "file_with": with_take.stat().st_size, "file_without": without.stat().st_size,
                         "write_s": write, "open_s": statistics.median(opened), "read_s": statistics.median(read)})
    package.unregister()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--variations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--blender", help=argparse.SUPPRESS)   # the bpy half: a JSON file of takes
    args = parser.parse_args()
    if args.blender:
        takes = json.loads(Path(args.blender).read_text())
        print(json.dumps(in_blender(takes, Path(args.blender).parent, args.repeats)))
        return
    from backend import DEFAULT_MODEL_DIR

    folder = Path(tempfile.mkdtemp())
    takes = make_takes(args.checkpoint or str(DEFAULT_MODEL_DIR), args.variations, folder)
    (folder / "takes.json").write_text(json.dumps(takes))
    proc = subprocess.run([sys.executable, __file__, "--blender", str(folder / "takes.json"),
                           "--repeats", str(args.repeats)], capture_output=True, text=True, check=True)
    for row in json.loads(proc.stdout.strip().splitlines()[-1]):
        print(f"{row['take']}, {row['variations']} variation(s) of {row['frames']} frames: packed "
              f"{row['packed'] / 1024:.0f} KiB; the .blend {row['file_without'] / 1024:.0f} KiB without it, "
              f"{row['file_with'] / 1024:.0f} KiB with it (+{(row['file_with'] - row['file_without']) / 1024:.0f} KiB); "
              f"write {1000 * row['write_s']:.0f} ms, open {1000 * row['open_s']:.0f} ms, "
              f"of it reading the take {1000 * row['read_s']:.1f} ms")


if __name__ == "__main__":
    main()
