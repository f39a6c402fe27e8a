"""How close the fast samplers come to the reference DDPM-500 sampler, for any checkpoint.

    nice .venv/bin/python benchmarks/sampler_accuracy.py MODEL [--audio a.wav b.wav ...]
        [--style-encoder SE.pt --stats stats_train.npz] [--seeds 3] [--steps 5 10 20 50]

MODEL is our checkpoint directory or a released denoiser .pt. Audio files are read with
soundfile and must be 16 kHz (mono or the first channel is used); without --audio a
synthetic signal is used, which only checks the plumbing: the figures mean something
for a trained model and real speech only.

For each clip and seed it compares, in model space (exp coefficients, jaw opening):
- the fast sampler against DDPM-500 from the same seed (same initial noise);
- DDPM-500 against DDPM-500 from another seed: the model's own variability, the scale
  a fast-sampler difference should be judged against;
- the fast sampler against DDIM with 250 steps (the converged deterministic solution);
- jitter: std of frame-to-frame change, fast / DDPM.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_audio(path: Path) -> np.ndarray:
    import soundfile

    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    if rate != 16000:
        raise SystemExit(f"{path} is {rate} Hz; resample it to 16 kHz first")
    return audio[:, 0]


def synthetic(seconds: float = 8.0) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return ((0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) * np.sin(2 * np.pi * 160 * t)).astype(np.float32)


def rmse(a, b) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def jitter(m) -> float:
    return float(np.std(np.diff(m["exp"], axis=0)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--style-encoder", type=Path)
    parser.add_argument("--stats", type=Path)
    parser.add_argument("--audio", type=Path, nargs="*", default=[])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--samplers", nargs="+", default=["ddim", "dpmpp-2m"])
    parser.add_argument("--steps", type=int, nargs="+", default=[5, 10, 20, 50])
    parser.add_argument("--preset", help="style preset name (default: the first, or none)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from backend.evaluation.evaluate import features_for
    from backend.model import load_model

    bundle = load_model(args.model, style_encoder=args.style_encoder, stats=args.stats, threads=args.threads)
    preset = args.preset or next(iter(bundle.presets), None)
    style = bundle.presets[preset][0] if preset else None
    clips = [(p.name, load_audio(p)) for p in args.audio] or [("synthetic", synthetic())]
    print(f"model {bundle.name}, style {preset or 'none'}, {len(clips)} clip(s), {args.seeds} seed(s)")

    rows = {}
    baseline, times = [], {}
    for clip_name, audio in clips:
        def run(sampler, steps, seed):
            start = time.perf_counter()
            out = bundle.generate(audio, style=style, sampler=sampler, steps=steps, seed=seed,
                                  speech_features=features_for(bundle, audio))[0]
            times.setdefault((sampler, steps), []).append(time.perf_counter() - start)
            return out

        ddpm = {seed: run("ddpm", None, seed) for seed in range(args.seeds + 1)}
        converged = {seed: run("ddim", 250, seed) for seed in range(args.seeds)}
        for seed in range(args.seeds):
            baseline.append((rmse(ddpm[seed]["exp"], ddpm[seed + 1]["exp"]),
                             np.degrees(np.mean(np.abs(ddpm[seed]["pose"][:, 3] - ddpm[seed + 1]["pose"][:, 3])))))
            for sampler in args.samplers:
                for steps in args.steps:
                    fast = run(sampler, steps, seed)
                    rows.setdefault((sampler, steps), []).append((
                        rmse(fast["exp"], ddpm[seed]["exp"]),
                        np.degrees(np.mean(np.abs(fast["pose"][:, 3] - ddpm[seed]["pose"][:, 3]))),
                        rmse(fast["exp"], converged[seed]["exp"]),
                        jitter(fast) / jitter(ddpm[seed]),
                    ))
    base = np.mean(baseline, axis=0)
    print(f"DDPM-500 vs DDPM-500 (other seed): exp RMSE {base[0]:.4f}, jaw MAE {base[1]:.3f} deg, "
          f"{np.mean(times[('ddpm', None)]):.1f} s per clip")
    print(f"{'sampler':<9} {'steps':>5} {'exp RMSE vs DDPM':>16} {'jaw MAE deg':>11} {'vs DDIM-250':>11} "
          f"{'jitter ratio':>12} {'s per clip':>10}")
    for (sampler, steps), values in rows.items():
        v = np.mean(values, axis=0)
        print(f"{sampler:<9} {steps:>5} {v[0]:>16.4f} {v[1]:>11.3f} {v[2]:>11.4f} {v[3]:>12.2f} "
              f"{np.mean(times[(sampler, steps)]):>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
