"""How much a take adds to a .blend, and how long it takes to read back.

    nice .venv/bin/python benchmarks/packed_take.py [--checkpoint DIR] [--variations 3]

Makes a take of 30 s of real speech (assets/real_speech, through ``tests/recordings``)
with the model through the service's Runner at 25 fps, as Generate Lip-Sync does (its
variations in one job), once with neutral adjustments and once with the jaw at 1.3 (then
the raw motion is stored beside the adjusted one), and packs it with
``Takes.to_bytes``: the bytes are what the scene's ``diffposetalk_packed_take`` property
adds to the saved file. ``Takes.from_bytes`` is what opening the file, undo and redo run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from addon.core.takes import Takes  # noqa: E402
from backend import DEFAULT_MODEL_DIR, motion_io, protocol  # noqa: E402
from backend.service.runner import Runner  # noqa: E402
from recordings import real_speech  # noqa: E402


def timed(call, repeats: int) -> float:
    """Median seconds of ``call()``."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_MODEL_DIR))
    parser.add_argument("--variations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    audio, words = real_speech(30.0)
    sf.write(folder / "speech.wav", audio, 16000)
    runner = Runner("cpu")
    runner.load(args.checkpoint)
    try:
        for jaw in (1.0, 1.3):
            output = folder / f"take_{jaw:g}.npz"
            request = {"audio": str(folder / "speech.wav"), "output": str(output), "fps": 25.0,
                       "n_variations": args.variations, "jaw_scale": jaw, "transcript": words}
            result = runner.generate(protocol.validate_params(protocol.Method.GENERATE, request))
            motions = [motion_io.load_motion(path) for path in result["outputs"]]
            for count in (1, args.variations):
                takes = Takes()
                takes.replace(motions[:count], scene="Scene", rig="Head rig", frame_start=1, fps=25.0,
                              action_name="speech lip-sync", request=request)
                packed = takes.to_bytes()
                arrays = sum(m[key].nbytes for m in motions[:count] for key in ("exp", "pose", "raw_exp", "raw_pose"))
                pack = timed(takes.to_bytes, args.repeats)
                unpack = timed(lambda: Takes.from_bytes(packed), args.repeats)
                print(f"jaw {jaw:g}, {count} variation(s) of {len(motions[0]['exp'])} frames: {len(packed) / 1024:.0f} KiB "
                      f"packed ({arrays / 1024:.0f} KiB of raw and adjusted float32 arrays); pack {1000 * pack:.1f} ms, "
                      f"read back {1000 * unpack:.1f} ms")
    finally:
        runner.close()


if __name__ == "__main__":
    main()
