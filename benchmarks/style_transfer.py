"""How far the output follows its style reference, property by property.

    nice .venv/bin/python benchmarks/style_transfer.py [--model backend/models/default]
        [--corpus runs/default/corpus] [--split test] [--speakers 4] [--style-scales 2 3]

Three tables, all on held-out speakers of the corpus (``--split``, default test), speech
generated from the clips' true phone times so that the recognizer plays no part:

1. Controlled references (``backend.evaluation.style_transfer.EDITS``): a reference with
   one property changed (head motion x4 or x0.1 about its mean, smile +0.5, brows +0.4,
   jaw motion x0.4); the output under the changed reference against the output under the
   unchanged one (a ratio for motion, a difference for offsets), with the target. The
   reference is either the held-out speaker's own motion ("truth") or the model's take of
   that speaker's speech without a style ("take", what an animator keys and feeds back).
   At the model's default guidance and at each ``--style-scales``.
2. Held-out speakers as references: each property of the reference and of the output
   (another speaker's speech), their correlation across speakers and the mean ratio.
3. The presets on one clip: each property, and the head motion without a style.
4. Head motion (``--speakers`` held-out speakers, each output under its speaker's own
   reference and without a style): amplitude, RMS frequency and acceleration of the head
   rotation, with the model's head prior and with the network alone.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROPS = ("head_motion_deg", "head_speed_deg_s", "smile", "brow", "jaw_motion", "blink_per_min")


def speakers_table(bundle, corpus, splits, seconds) -> str:
    from backend.data.format import read_manifest
    from backend.evaluation.style_transfer import WINDOW, TrueSpeech, properties

    records = {}
    for split in splits:
        for record in read_manifest(corpus, split):
            if record.frames >= WINDOW:
                records.setdefault(record.speaker, record)
    chosen = list(records.values())
    pairs = []
    for k, record in enumerate(chosen):
        reference = TrueSpeech(bundle, corpus, record, seconds).truth
        target = TrueSpeech(bundle, corpus, chosen[(k + 1) % len(chosen)], seconds)
        output = target.generate(bundle.encode_style({"exp": reference["exp"][:WINDOW],
                                                      "pose": reference["pose"][:WINDOW]}))
        pairs.append((properties(reference), properties(output)))
    lines = [f"{len(chosen)} held-out speakers ({', '.join(splits)}), each speaker's first 4 s as the reference, "
             "the next speaker's speech:", "",
             "| property | references: min / median / max | outputs: min / median / max | correlation | "
             "mean output / reference |", "|---|---|---|---|---|"]
    for prop in PROPS:
        ref = np.array([r[prop] for r, _ in pairs])
        out = np.array([o[prop] for _, o in pairs])
        r = np.corrcoef(ref, out)[0, 1] if ref.std() > 0 and out.std() > 0 else float("nan")
        lines.append(f"| {prop} | {ref.min():.3g} / {np.median(ref):.3g} / {ref.max():.3g} | "
                     f"{out.min():.3g} / {np.median(out):.3g} / {out.max():.3g} | {r:.2f} | "
                     f"{np.mean(out) / max(np.mean(ref), 1e-9):.2f} |")
    return "\n".join(lines)


def presets_table(bundle, corpus, split, seconds) -> str:
    from backend.evaluation.style_transfer import TrueSpeech, held_out_references, properties

    record = held_out_references(corpus, split, 1)[0][0]
    speech = TrueSpeech(bundle, corpus, record, seconds)
    rows = [("no style", None)] + [(name, np.asarray(vec)) for name, (vec, _) in bundle.presets.items()]
    lines = [f"Speech of {record.id} ({speech.frames / 25:.0f} s), seeds 0-2 averaged:", "",
             "| style | " + " | ".join(PROPS) + " |", "|---|" + "---|" * len(PROPS)]
    for name, style in rows:
        values = [properties(speech.generate(style, seed=seed)) for seed in range(3)]
        lines.append(f"| {name} | " + " | ".join(f"{np.mean([v[p] for v in values]):.3g}" for p in PROPS) + " |")
    return "\n".join(lines)


def head_rhythm(pose) -> tuple:
    """(RMS head rotation in degrees within 4 s windows, RMS frequency in Hz =
    sqrt(mean v^2 / mean x^2) / 2 pi about the mean, RMS acceleration in degrees/frame^2)."""
    from backend.evaluation.style_transfer import head_motion_deg
    from backend.timebase import FPS

    rotation = np.degrees(np.asarray(pose)[:, :3])
    rotation = rotation - rotation.mean(axis=0)
    velocity = np.diff(rotation, axis=0) * FPS
    hz = np.sqrt((velocity ** 2).sum(-1).mean() / max((rotation ** 2).sum(-1).mean(), 1e-12)) / (2 * np.pi)
    return head_motion_deg(pose), float(hz), float(np.sqrt((np.diff(rotation, 2, axis=0) ** 2).sum(-1).mean()))


def head_table(bundle, corpus, split, speakers, seconds) -> str:
    from backend.evaluation.style_transfer import TrueSpeech, held_out_references

    rows = {name: [] for name in ("references", "own reference, head prior", "own reference, network alone",
                                  "no style, head prior", "no style, network alone")}
    for reference_record, target_record in held_out_references(corpus, split, speakers):
        reference = TrueSpeech(bundle, corpus, reference_record, seconds).truth
        target = TrueSpeech(bundle, corpus, target_record, seconds)
        style = bundle.encode_style(reference)
        rows["references"].append(head_rhythm(reference["pose"]))
        for prior, label in ((True, "head prior"), (False, "network alone")):
            rows[f"own reference, {label}"].append(head_rhythm(target.generate(style, head_prior=prior)["pose"]))
            rows[f"no style, {label}"].append(head_rhythm(target.generate(None, head_prior=prior)["pose"]))
    lines = ["| head of | degrees RMS | RMS frequency, Hz | acceleration, degrees/frame^2 |", "|---|---|---|---|"]
    for name, values in rows.items():
        deg, hz, acc = np.mean(values, axis=0)
        lines.append(f"| {name} | {deg:.2f} | {hz:.2f} | {acc:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "backend" / "models" / "default")
    parser.add_argument("--corpus", type=Path, default=ROOT / "runs" / "default" / "corpus")
    parser.add_argument("--split", default="test")
    parser.add_argument("--speakers", type=int, default=4, help="held-out speakers for the controlled references")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--style-scales", type=float, nargs="*", default=[2.0, 3.0])
    args = parser.parse_args(argv)

    from backend.evaluation.style_transfer import controlled_table
    from backend.model import load_model

    started = time.monotonic()
    bundle = load_model(args.model)
    audio_scale, style_scale = bundle.guidance_scales()
    print(f"model {args.model} (default guidance: audio {audio_scale:g}, style {style_scale:g}); corpus "
          f"{args.corpus}, split {args.split}, {args.speakers} speakers, {args.seconds:g} s of speech, true phone "
          "times, default sampler and steps, seed 0\n")
    print(controlled_table(bundle, args.corpus, args.split, args.speakers, args.seconds, args.style_scales), "\n")
    print(speakers_table(bundle, args.corpus, ["val", args.split] if args.split != "val" else ["val"], args.seconds),
          "\n")
    print(presets_table(bundle, args.corpus, args.split, args.seconds), "\n")
    print(head_table(bundle, args.corpus, args.split, args.speakers, args.seconds), "\n")
    print(f"time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
