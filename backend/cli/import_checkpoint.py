"""``python -m backend import-checkpoint``: released DiffPoseTalk files -> our checkpoint folder."""
from __future__ import annotations

import logging
from pathlib import Path

from .common import report_error

log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    parser.add_argument("denoiser", type=Path, help="released denoiser file (iter_XXXXXXX.pt with 'model')")
    parser.add_argument("style_encoder", type=Path, help="released style encoder file (.pt with 'encoder')")
    parser.add_argument("stats", type=Path, help="stats_train.npz the models were trained with")
    parser.add_argument("output", type=Path, help="directory to write our checkpoint to")
    parser.add_argument("--name", help="model name shown in the add-on (default: the experiment name)")
    parser.add_argument("--preset", nargs=2, action="append", default=[], metavar=("NAME", "STYLE_NPY"),
                        help="add a style preset from a 128-float .npy (repeatable)")


def run(args) -> int:
    from ..model import CheckpointError
    from ..model.checkpoint import save_checkpoint
    from ..model.importer import load_released

    try:
        loaded = load_released(args.denoiser, args.style_encoder, args.stats, dict(args.preset))
        if args.name:
            loaded.name = args.name
        save_checkpoint(args.output, loaded)
    except (CheckpointError, OSError, ValueError) as exc:  # one line with its code, like the other commands
        return report_error(exc)
    log.info("wrote %s", args.output)
    return 0
