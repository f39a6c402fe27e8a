"""How long ``adjust_take`` takes on a 30 s take, and what the adjustments do to its closures.

    nice .venv/bin/python benchmarks/adjustments.py [--checkpoint DIR] [--repeats 20]

Makes a take of 30 s of real speech (assets/real_speech, through ``tests/recordings``)
with the model through the service's Runner, at 25 and at 60 fps, then times
``Runner.adjust_take`` with every adjustment changed (read the take, adjust its raw
motion, write the output atomically) and ``apply_adjustments`` alone. On the built-in
head it counts the frames whose lips are within 2 mm in the take and how many of them
stay so under each setting, with the median opening of the open frames and the 90th
percentile of the opening against the take's.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from backend import DEFAULT_MODEL_DIR, motion_io, protocol  # noqa: E402
from backend.evaluation.lipsync import CLOSED_MM  # noqa: E402
from backend.evaluation.report import eval_head, opening_mm  # noqa: E402
from backend.heads import load_head  # noqa: E402
from backend.model.adjustments import Adjustments, apply_adjustments  # noqa: E402
from backend.service.runner import Runner  # noqa: E402
from recordings import real_speech  # noqa: E402

EVERYTHING = {"mouth_scale": 1.3, "jaw_scale": 1.2, "brow_scale": 0.8, "eye_scale": 0.7, "head_motion_scale": 0.5,
              "lip_sync_offset": 2, "smoothing": 1.0}
SETTINGS = ({"jaw": 0.5}, {"jaw": 1.5}, {"mouth": 0.5}, {"mouth": 1.5}, {"smoothing": 1.0},
            {"jaw": 1.5, "mouth": 1.5, "smoothing": 1.0})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_MODEL_DIR))
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    audio, words = real_speech(30.0)
    sf.write(folder / "speech.wav", audio, 16000)
    runner = Runner("cpu")
    runner.load(args.checkpoint)
    try:
        for fps in (25.0, 60.0):
            take = folder / f"take_{fps:g}.npz"
            runner.generate(protocol.validate_params(protocol.Method.GENERATE, {
                "audio": str(folder / "speech.wav"), "output": str(take), "fps": fps, "transcript": words}))
            params = protocol.validate_params(protocol.Method.ADJUST_TAKE, {
                "take": str(take), "output": str(folder / "adjusted.npz"), **EVERYTHING})
            motion = motion_io.raw_motion(motion_io.load_motion(take))
            adjustments = Adjustments(1.3, 1.2, 0.8, 0.7, 0.5, 2, 1.0)
            requests, applies = [], []
            for _ in range(args.repeats):
                started = time.perf_counter()
                runner.adjust_take(params)
                requests.append(time.perf_counter() - started)
                started = time.perf_counter()
                apply_adjustments(motion, adjustments)
                applies.append(time.perf_counter() - started)
            print(f"{fps:g} fps, {len(motion['exp'])} frames: adjust_take median "
                  f"{1e3 * statistics.median(requests):.1f} ms (max {1e3 * max(requests):.1f}), "
                  f"apply_adjustments median {1e3 * statistics.median(applies):.1f} ms")
            if fps == 25.0:
                closures(motion)
    finally:
        runner.close()


def closures(motion: dict) -> None:
    head = eval_head(load_head())
    before = opening_mm(head, motion)
    shut = before <= CLOSED_MM
    print(f"{shut.sum()} of {len(before)} frames with the lips within {CLOSED_MM:g} mm")
    for setting in SETTINGS:
        after = opening_mm(head, apply_adjustments(motion, Adjustments(**setting)))
        ratio = np.median(after[~shut]) / np.median(before[~shut])
        widest = np.percentile(after, 90) / np.percentile(before, 90)
        print(f"  {setting}: {(after[shut] <= CLOSED_MM).sum()} stay shut (widest {after[shut].max():.2f} mm), "
              f"open frames' median opening x{ratio:.2f}, 90th percentile x{widest:.2f}")


if __name__ == "__main__":
    main()
