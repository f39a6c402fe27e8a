"""``python -m backend train-default``: the shipped default model, from nothing, in one command
(the recipe and its stages: ``training/recipe.py``, docs/training.md).

Every stage resumes where it stopped: run the same command again after an interruption.
"""
from __future__ import annotations

from pathlib import Path

from ..training.recipe import ROOT, Recipe, train_default
from .common import print_summary


def add_arguments(parser):
    r = Recipe()
    parser.add_argument("--work", type=Path, default=Path("runs/default"),
                        help="working folder: corpus, run folders, evaluation (default: runs/default)")
    parser.add_argument("--corpus", type=Path, help="use this corpus instead of generating <work>/corpus")
    parser.add_argument("--out", type=Path, default=ROOT / "backend" / "models" / "default",
                        help="where the finished model goes (default: backend/models/default)")
    parser.add_argument("--report", type=Path, default=ROOT / "docs" / "evaluation.md",
                        help="where the evaluation report goes (default: docs/evaluation.md)")
    real = ROOT / "assets" / "real_speech"
    parser.add_argument("--real", type=Path, default=real if real.is_dir() else None,
                        help="folder of real recordings with .txt transcripts for the report "
                        "(default: assets/real_speech of a source checkout)")
    parser.add_argument("--clips", type=int, default=r.clips, help=f"synthetic clips (default: {r.clips})")
    parser.add_argument("--speakers", type=int, default=r.speakers, help=f"synthetic speakers (default: {r.speakers})")
    parser.add_argument("--style-steps", type=int, default=r.style_steps)
    parser.add_argument("--denoiser-steps", type=int, default=r.denoiser_steps)
    parser.add_argument("--batch-size", type=int, default=r.denoiser_batch, help="denoiser batch")
    parser.add_argument("--width", type=int, default=r.width, help="denoiser width")
    parser.add_argument("--layers", type=int, default=r.layers, help="denoiser layers")
    parser.add_argument("--eval-clips", type=int, default=r.eval_clips)
    parser.add_argument("--workers", type=int, default=1, help="DataLoader worker processes (default: 1)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--start-from", type=Path,
                        help=f"fine-tune this trained model for {r.finetune_steps} steps (its style encoder and "
                        "normalization kept) instead of training from nothing; the shipped model was made so")
    parser.add_argument("--finetune-steps", type=int, default=r.finetune_steps,
                        help=f"steps of fine-tuning with --start-from (default: {r.finetune_steps}); 0 runs only the "
                        "stages after training (presets, head prior, guidance, evaluation) on that model as it is")


def _recipe(args) -> Recipe:
    return Recipe(clips=args.clips, speakers=args.speakers, style_steps=args.style_steps,
                  denoiser_steps=args.denoiser_steps, denoiser_batch=args.batch_size, width=args.width,
                  layers=args.layers, eval_clips=args.eval_clips, finetune_steps=args.finetune_steps,
                  checkpoint_every=max(1, min(Recipe.checkpoint_every, args.denoiser_steps)))


def run(args) -> int:
    from ..device import configure_threads

    if args.finetune_steps < 0 or (args.finetune_steps == 0 and args.start_from is None):
        raise SystemExit("--finetune-steps must be a positive number, or 0 together with --start-from")
    configure_threads(args.threads)
    summary = train_default(_recipe(args), args.work, args.out, args.report, args.corpus, args.real, args.device,
                            args.workers, args.start_from)
    print_summary(summary)
    print(f"model: {args.out}\nreport: {args.report}")
    return 0
