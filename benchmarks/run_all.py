"""The headline figures of this machine in one table (docs/benchmarks.md records them).

    nice .venv/bin/python benchmarks/run_all.py [--checkpoint DIR] [--threads N]

- generation speed (real-time factor: seconds of animation per second of compute, audio
  front-end included, model load excluded) for the default model and the reference
  configuration, each sampler at its default steps, on 10 s of speech;
- time from spawning ``python -m backend serve`` to its ``hello`` line and to the loaded model;
- peak memory (and wall time) of ``python -m backend generate`` on 10 s, 60 s and 10 min;
- Blender: writing 10 minutes of animation onto the built-in head as keyframes, and the
  add-on's whole main-thread step for such a take.

The parts are the per-topic benchmarks beside this file (model_speed.py,
service_startup.py, rig_write_speed.py, addon_apply_take.py); this script runs them and
collects their figures. Each generation case runs in a fresh process, so its peak memory
is its own. The reference configuration's weights are random (speed does not depend on
them); its DDPM-500 row is timed over its first steps and extrapolated (marked "est").
"""
from __future__ import annotations

import argparse
import datetime
from importlib.metadata import version
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import service_startup  # noqa: E402

SAMPLE = ROOT / "assets" / "speech_sample.flac"
SAMPLERS = (("dpmpp-2m", None), ("ddim", None), ("ddpm", None))  # None: the model's default steps


def speech(seconds: float) -> np.ndarray:
    """The bundled recording repeated with short pauses to ``seconds`` (16 kHz mono)."""
    audio, rate = sf.read(SAMPLE, dtype="float32")
    assert rate == 16000, "the bundled sample is 16 kHz"
    unit = np.concatenate([audio, np.zeros(rate // 3, np.float32)])
    return np.tile(unit, int(np.ceil(seconds * rate / len(unit))))[: int(seconds * rate)]


def time_checkpoint(checkpoint: str, sampler: str, steps, seconds: float, threads: int) -> dict:
    """One generation with a real checkpoint on real speech (run in a fresh process)."""
    from backend.evaluation.evaluate import features_for
    from backend.model import load_model

    bundle = load_model(checkpoint, device="cpu", threads=threads)
    audio = speech(seconds)
    start = (time.perf_counter(), time.process_time())  # the speech features are part of the work timed
    bundle.generate(audio, sampler=sampler, steps=steps, speech_features=features_for(bundle, audio))
    wall, cpu = time.perf_counter() - start[0], time.process_time() - start[1]
    return {"config": f"default ({bundle.name})", "sampler": sampler,
            "steps": steps or (500 if sampler == "ddpm" else bundle.sampling["default_steps"]),
            "seconds": seconds, "rtf": seconds / wall, "cpu_rtf": seconds * threads / cpu,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "estimated": False}


def generation_rows(checkpoint: str, seconds: float, threads: int, ddpm_steps: int, reference: bool):
    rows = []
    for sampler, steps in SAMPLERS:
        case = json.dumps([checkpoint, sampler, steps, seconds, threads])
        out = subprocess.run([sys.executable, __file__, "--case", case], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if reference:
        for sampler, steps in (("dpmpp-2m", 20), ("ddim", 20), ("ddpm", None)):
            case = json.dumps(["reference", sampler, steps, seconds])
            out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "model_speed.py"), "--threads", str(threads),
                                  "--ddpm-steps", str(ddpm_steps), "--case", case],
                                 capture_output=True, text=True, check=True)
            rows.append(dict(json.loads(out.stdout.strip().splitlines()[-1]), config="reference (HuBERT, random weights)"))
    return [(f"generation, {r['seconds']:g} s of speech", f"{r['config']}, {r['sampler']} {r['steps']} steps",
             f"{r['rtf']:.2f}x real time (CPU time: {r['cpu_rtf']:.2f}x), peak {r['peak_mb']:.0f} MB"
             + (" (est)" if r["estimated"] else "")) for r in rows]


def startup_rows(checkpoint: str, runs: int):
    hello, loaded = service_startup.startup(checkpoint, runs)
    return [("service start -> hello", f"median of {runs}", f"{np.median(hello):.2f} s (max {max(hello):.2f} s)"),
            ("service start -> model loaded", f"median of {runs}", f"{np.median(loaded):.2f} s (max {max(loaded):.2f} s)")]


def memory_rows(checkpoint: str, lengths, tmp: Path):
    rows = []
    for seconds in lengths:
        path = tmp / f"speech{seconds:g}.wav"
        sf.write(path, speech(seconds), 16000, subtype="PCM_16")
        wall, rss = service_startup.generate_rss(checkpoint, path, tmp / f"speech{seconds:g}.npz")
        length = f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
        rows.append((f"python -m backend generate, {length}", "default sampler, CPU",
                     f"peak RSS {rss:.0f} MiB, {wall:.1f} s wall ({seconds / wall:.1f}x real time incl. start-up)"))
    return rows


def blender_rows(minutes: float, tmp: Path):
    env = dict(os.environ, HOME=str(tmp / "home"), BLENDER_USER_RESOURCES=str(tmp / "blender"))

    def run(script, *args):
        out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True,
                             env=env, check=True)
        return out.stdout

    written = run("rig_write_speed.py", "--minutes", str(minutes), "--scene-fps", "25")
    write_s = float(re.search(r"write_motion: .* in ([\d.]+) s", written).group(1))
    applied = run("addon_apply_take.py", "--minutes", str(minutes), "--fps", "25", "--repeats", "1")
    apply_s = float(re.search(r"best ([\d.]+) s", applied).group(1))
    frames = int(minutes * 60 * 25)
    return [(f"Blender: write {minutes:g} min of keys", f"built-in head, {frames} frames x 58 curves",
             f"{write_s:.2f} s"),
            (f"Blender: apply a {minutes:g} min take", "read .npz + write keys + undo step", f"{apply_s:.2f} s")]


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{model}, {len(os.sched_getaffinity(0))} cores usable, {memory_gb:.0f} GB RAM, "
            f"load average {os.getloadavg()[0]:.1f} at start")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="model to measure as 'default' (default: backend/models/default)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for the speed rows (default 1: steadier on a shared machine)")
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length for the speed rows")
    parser.add_argument("--memory", type=float, nargs="+", default=[10.0, 60.0, 600.0],
                        help="audio lengths (s) for the memory rows")
    parser.add_argument("--runs", type=int, default=3, help="service starts to time")
    parser.add_argument("--minutes", type=float, default=10.0, help="animation length for the Blender rows")
    parser.add_argument("--ddpm-steps", type=int, default=20, help="reference DDPM: steps timed before extrapolating")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference configuration's rows")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(time_checkpoint(*json.loads(args.case))))
        return 0
    checkpoint = args.checkpoint or service_startup.default_checkpoint()
    if checkpoint is None:
        sys.exit("run_all: no model to measure: backend/models/default is missing; pass --checkpoint DIR")
    # Versions from the package metadata: importing torch or bpy here would make this
    # process large, and the children it forks would inherit that peak memory.
    print(f"{datetime.date.today()} | {machine()}")
    print(f"torch {version('torch')}, bpy {version('bpy')}, {args.threads} torch thread(s), "
          f"model {checkpoint}\n", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for part in (lambda: generation_rows(checkpoint, args.seconds, args.threads, args.ddpm_steps,
                                             not args.no_reference),
                     lambda: startup_rows(checkpoint, args.runs),
                     lambda: memory_rows(checkpoint, args.memory, tmp),
                     lambda: blender_rows(args.minutes, tmp)):
            rows += part()
            print(f"... {len(rows)} rows measured", file=sys.stderr, flush=True)
    widths = [max(len(r[i]) for r in rows + [("measure", "case", "result")]) for i in range(3)]
    for row in [("measure", "case", "result"), tuple("-" * w for w in widths)] + rows:
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
