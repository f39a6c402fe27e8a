"""``python -m backend train-style``: stage 1, the contrastive style encoder.

Single process, or several with ``torchrun --nproc_per_node=K -m backend train-style ...``.
Running it again with the same --out resumes from the last checkpoint.
"""
from __future__ import annotations

from pathlib import Path

from ..training.loop import LoopConfig
from .common import add_loop_arguments, loop_config

DEFAULTS = LoopConfig(steps=20000, batch_size=32, lr=1e-4, warmup=0, log_every=100, checkpoint_every=1000)


def add_arguments(parser):
    parser.add_argument("--corpus", type=Path, required=True, help="corpus folder (docs/dataset.md)")
    parser.add_argument("--out", type=Path, required=True, help="run folder (log, resume state, style_encoder.*)")
    parser.add_argument("--no-head-pose", action="store_true", help="encode motion without head rotation (D = 51)")
    parser.add_argument("--layers", type=int, default=4, help="transformer layers (default: 4, the reference)")
    parser.add_argument("--temperature", type=float, default=0.1, help="NT-Xent temperature (default: 0.1)")
    parser.add_argument("--same-clip-positives", action="store_true",
                        help="both views from one clip, as the reference (default: two clips of the speaker)")
    parser.add_argument("--no-amplitude-twins", action="store_true",
                        help="no twins with scaled head or jaw motion, as the reference (docs/training.md)")
    add_loop_arguments(parser, DEFAULTS)


def run(args) -> int:
    from ..device import configure_threads
    from ..model.config import StyleEncoderConfig
    from ..training.stages import train_style_encoder

    configure_threads(args.threads)
    cfg = StyleEncoderConfig(motion_dim=51 if args.no_head_pose else 54, n_layers=args.layers)
    result = train_style_encoder(args.corpus, args.out, cfg, loop_config(args), args.device, args.temperature,
                                 cross_clip=not args.same_clip_positives, amplitude_twins=not args.no_amplitude_twins)
    print(f"style encoder in {args.out}: " + " ".join(f"{k} {v:.4g}" for k, v in result.losses.items()))
    return 0
