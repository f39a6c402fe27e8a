"""Command-line options the training commands share (entry points only)."""
from __future__ import annotations

from .loop import LoopConfig


def add_loop_arguments(parser, defaults: LoopConfig):
    group = parser.add_argument_group("optimization")
    group.add_argument("--steps", type=int, default=defaults.steps, help=f"training steps (default: {defaults.steps})")
    group.add_argument("--batch-size", type=int, default=defaults.batch_size,
                       help=f"samples per process and step (default: {defaults.batch_size})")
    group.add_argument("--lr", type=float, default=defaults.lr, help=f"Adam learning rate (default: {defaults.lr:g})")
    group.add_argument("--warmup", type=int, default=defaults.warmup,
                       help=f"steps of linear learning-rate warm-up (default: {defaults.warmup})")
    group.add_argument("--log-every", type=int, default=defaults.log_every, help="steps between log lines")
    group.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every,
                       help="steps between checkpoints (resume state and model files)")
    group.add_argument("--seed", type=int, default=defaults.seed)
    group.add_argument("--workers", type=int, default=defaults.num_workers, help="DataLoader worker processes")
    group.add_argument("--grad-clip", type=float, default=defaults.grad_clip, help="gradient norm clip (0 = off)")
    group.add_argument("--decay", type=float, default=defaults.decay,
                       help="fraction of the steps at the end over which the rate falls linearly to 10%% (default: 0)")
    group.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    group.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores, at most 8)")


def loop_config(args) -> LoopConfig:
    return LoopConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup,
                      log_every=args.log_every, checkpoint_every=args.checkpoint_every, seed=args.seed,
                      num_workers=args.workers, grad_clip=args.grad_clip, decay=args.decay)


def configure_threads(args):
    from ..device import configure_threads as configure

    configure(args.threads)
