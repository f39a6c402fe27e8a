"""``python -m backend evaluate``: a model's report on held-out clips and real speech
(``evaluation/evaluate.py``): report.md, metrics.json and PNG plots."""
from __future__ import annotations

from pathlib import Path

from .. import DEFAULT_MODEL_DIR
from .common import print_summary


def add_arguments(parser):
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, help="checkpoint folder (default: the shipped model)")
    parser.add_argument("--corpus", type=Path, help="corpus with held-out clips (ground truth and phone times)")
    parser.add_argument("--split", default="test", help="corpus split to evaluate (default: test)")
    parser.add_argument("--clips", type=int, default=8, help="at most this many held-out clips (default: 8)")
    parser.add_argument("--seconds", type=float, default=12.0, help="evaluate at most this much of each clip")
    parser.add_argument("--real", type=Path, help="folder of real recordings: audio files with same-named .txt transcripts")
    parser.add_argument("--seeds", type=int, default=3, help="samples per clip for diversity (default: 3)")
    parser.add_argument("--diversity-clips", type=int, default=2, help="clips that get the extra samples (default: 2)")
    parser.add_argument("--sampler", default=None, help="sampler (default: the model's)")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    parser.add_argument("--audio-scale", type=float, default=None, help="audio guidance scale (default: the model's)")
    parser.add_argument("--style-scale", type=float, default=None, help="style guidance scale (default: the model's)")
    parser.add_argument("--flame", type=Path, help="FLAME model file, for a model in the 'flame' space")
    parser.add_argument("--out", type=Path, default=Path("evaluation"), help="report folder (default: evaluation)")


def run(args) -> int:
    from ..evaluation.evaluate import evaluate

    summary = evaluate(args.model, args.out, args.corpus, args.split, args.real, args.clips, args.seconds, args.seeds,
                       args.diversity_clips, args.flame, args.sampler, args.steps, args.audio_scale, args.style_scale)
    print_summary(summary)
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0
