"""How many keys "Editable Keys" writes for a real take, and how far they are from it.

    nice .venv/bin/python benchmarks/editable_keys.py [--checkpoint DIR] [--tolerance 0.02 0.01 0.005]

Generates a take of about 11 s of real speech (three recordings of assets/real_speech,
transcripts given) at 25 fps with ``python -m backend generate``, then writes it onto the
built-in head in bpy (this process, user folders in a temporary directory) once per
tolerance, and prints the keys written against one per frame on every curve, and the
largest difference from the take at a frame (shape-key value or quaternion component).
"""
import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
RECORDINGS = ("austen_0870", "austen_0880", "cards_001")


def make_take(folder: Path, checkpoint) -> Path:
    speech = ROOT / "assets" / "real_speech"
    audio = [sf.read(speech / f"{name}.flac", dtype="float32")[0] for name in RECORDINGS]
    rate = sf.info(speech / f"{RECORDINGS[0]}.flac").samplerate
    sf.write(folder / "speech.wav", np.concatenate(audio), rate)
    words = " ".join((speech / f"{name}.txt").read_text().strip() for name in RECORDINGS)
    take = folder / "take.npz"
    command = [sys.executable, "-m", "backend", "generate", str(folder / "speech.wav"), "-o", str(take),
               "--transcript", words] + (["--checkpoint", checkpoint] if checkpoint else [])
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return take


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="model folder (default: the shipped one)")
    parser.add_argument("--tolerance", type=float, nargs="+", default=[0.02, 0.01, 0.005])
    args = parser.parse_args()
    home = tempfile.mkdtemp()
    take = make_take(Path(home), args.checkpoint)
    os.environ.update(HOME=home, BLENDER_USER_RESOURCES=home)

    import bpy

    spec = importlib.util.spec_from_file_location("diffposetalk", ROOT / "__init__.py",
                                                  submodule_search_locations=[str(ROOT)])
    package = importlib.util.module_from_spec(spec)
    sys.modules["diffposetalk"] = package
    spec.loader.exec_module(package)
    package.register()
    from diffposetalk.addon import animation, rigs
    from diffposetalk.backend import motion_io

    bpy.context.scene.render.fps = 25
    rig = rigs.add_builtin_head(bpy.context)
    motion = motion_io.load_motion(take)
    print(f"bpy {bpy.app.version_string}: a take of {len(motion['exp'])} frames on the built-in head")
    for tolerance in args.tolerance:
        started = time.perf_counter()
        result = animation.write_motion(rig, motion, 1.0, 25.0, "editable keys", tolerance=tolerance)
        seconds = time.perf_counter() - started
        print(f"  tolerance {tolerance:g}: {result.keys} keys of {result.frame_keys} "
              f"({100 * result.keys / result.frame_keys:.0f} %), largest difference {result.max_error:.4f}, "
              f"written in {seconds:.2f} s")


if __name__ == "__main__":
    main()
