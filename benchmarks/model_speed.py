"""Speed of generation on this machine: real-time factor and peak memory.

Real-time factor = seconds of animation per second of compute (audio encoding included);
> 1 is faster than real time. It is given for wall time and for the process's CPU time:
on a machine shared with other work, CPU time / threads shows what idle cores would give. Each case runs in a fresh subprocess so its peak resident
memory (ru_maxrss) is its own; "before MB" is the resident memory once the model is
built and the audio made, so peak - before is what generation itself needs. Weights are random: speed does not depend on them.

    nice .venv/bin/python benchmarks/model_speed.py [--threads 1] [--seconds 10 60]

DDPM-500 on the reference configuration takes minutes per 4 s window on a small CPU, so
by default it is timed over its first --ddpm-steps steps and extrapolated (marked "est").
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CASES = [  # (config, sampler, steps)
    ("compact", "dpmpp-2m", 10),
    ("compact", "dpmpp-2m", 20),
    ("compact", "ddpm", None),
    ("reference", "dpmpp-2m", 20),
    ("reference", "ddpm", None),
]


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """A 180 Hz tone under a 3 Hz envelope plus noise, made a second at a time so that
    making a long clip does not dominate the peak memory being measured."""
    rng = np.random.default_rng(seed)
    t = np.arange(16000, dtype=np.float32) / 16000  # both frequencies are whole cycles per second
    second = (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) * np.sin(2 * np.pi * 180 * t)
    out = np.empty(int(seconds * 16000), np.float32)
    for start in range(0, out.size, 16000):
        piece = out[start: start + 16000]
        piece[:] = second[: piece.size] + 0.05 * rng.standard_normal(piece.size, dtype=np.float32)
    return out


def resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_case(config_name: str, sampler: str, steps, seconds: float, threads: int, ddpm_steps: int) -> dict:
    import torch

    sys.path.insert(0, str(ROOT))
    from backend.evaluation.evaluate import features_for
    from backend.model import Cancelled
    from backend.model.bundle import ModelBundle
    from backend.model.checkpoint import LoadedModel
    from backend.model.config import compact, reference
    from backend.model.model import DiffPoseTalk, StyleEncoder

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = compact() if config_name == "compact" else reference()
    stats = {f"{p}_{k}": (np.ones(n) if k == "std" else np.zeros(n)).astype(np.float32)
             for p, n in (("shape", 100), ("exp", 50), ("pose", 6)) for k in ("mean", "std", "max", "min")}
    bundle = ModelBundle(LoadedModel(cfg, DiffPoseTalk(cfg), StyleEncoder(cfg.style_encoder), stats, config_name))
    audio = speech_like(seconds)
    style = np.random.default_rng(0).normal(size=128).astype(np.float32)
    marks = {}
    limit = ddpm_steps if sampler == "ddpm" and ddpm_steps else None

    def progress(stage, window, n_windows, step, n_steps):
        if stage == "denoise":
            marks.setdefault("first_step", (time.perf_counter(), time.process_time()))
            marks["steps"] = marks.get("steps", 0) + 1
            marks["n_windows"], marks["n_steps"] = n_windows, n_steps

    before_mb = resident_mb()
    start = (time.perf_counter(), time.process_time())
    try:
        bundle.generate(audio, style=style, sampler=sampler, steps=steps, progress=progress,
                        speech_features=features_for(bundle, audio),
                        cancelled=lambda: limit is not None and marks.get("steps", 0) >= limit)
        end, estimated = (time.perf_counter(), time.process_time()), False
        elapsed = [e - s for e, s in zip(end, start)]
    except Cancelled:
        # Audio encoding (before the first step), then the measured per-step time for all steps.
        end, estimated = (time.perf_counter(), time.process_time()), True
        total_steps = marks["n_steps"] * marks["n_windows"]
        elapsed = [(f - s) + (e - f) / (marks["steps"] - 1) * total_steps
                   for s, f, e in zip(start, marks["first_step"], end)]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"config": config_name, "sampler": sampler, "steps": steps or 500, "seconds": seconds,
            "wall_s": elapsed[0], "rtf": seconds / elapsed[0], "cpu_rtf": seconds * threads / elapsed[1],
            "peak_mb": peak_mb, "before_mb": before_mb, "estimated": estimated}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--seconds", type=float, nargs="+", default=[10.0, 60.0])
    parser.add_argument("--ddpm-steps", type=int, default=20,
                        help="time DDPM-500 over this many steps and extrapolate (0 = run all of it)")
    parser.add_argument("--only", help="run only cases whose config or sampler matches this")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        config_name, sampler, steps, seconds = json.loads(args.case)
        print(json.dumps(run_case(config_name, sampler, steps, seconds, args.threads, args.ddpm_steps)))
        return 0
    print(f"load average {os.getloadavg()[0]:.1f}, {args.threads} thread(s)")
    print(f"{'config':<10} {'sampler':<9} {'steps':>5} {'audio s':>7} {'wall s':>7} {'x real time':>11} "
          f"{'x (CPU time)':>12} {'peak MB':>8} {'before MB':>9}")
    for config_name, sampler, steps in CASES:
        if args.only and args.only not in (config_name, sampler):
            continue
        for seconds in args.seconds:
            case = json.dumps([config_name, sampler, steps, seconds])
            out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--ddpm-steps",
                                  str(args.ddpm_steps), "--case", case], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            note = " (est)" if r["estimated"] else ""
            print(f"{r['config']:<10} {r['sampler']:<9} {r['steps']:>5} {r['seconds']:>7.0f} {r['wall_s']:>7.1f} "
                  f"{r['rtf']:>11.2f} {r['cpu_rtf']:>12.2f} {r['peak_mb']:>8.0f} {r['before_mb']:>9.0f}{note}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
