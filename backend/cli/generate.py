"""``python -m backend generate AUDIO``: one audio file -> motion .npz, or an edit of a take made
from it (``--from-take`` with ``--regenerate`` or ``--keep-frames``).

Runs exactly what the service runs for a ``generate`` request (``service.runner``), with
the same parameter checks (``protocol.validate_params``, in ``common.generation_params``).
"""
from __future__ import annotations

import logging
from pathlib import Path

from .. import protocol
from .common import add_generation_arguments, generation_params, load_runner, log_progress, report_error

log = logging.getLogger(__name__)


def add_arguments(parser):
    parser.add_argument("audio", type=Path, help="audio file: WAV, FLAC, OGG or MP3")
    parser.add_argument("-o", "--output", type=Path, default=None, help="output .npz (default: AUDIO with .npz)")
    parser.add_argument("--start", type=float, default=None, help="use the audio from this second")
    parser.add_argument("--end", type=float, default=None, help="use the audio up to this second")
    parser.add_argument("--transcript", default=None, help="what is said, if known")
    parser.add_argument("--no-overwrite", action="store_true", help="fail if the output exists")
    parser.add_argument("--from-take", type=Path, default=None, metavar="TAKE",
                        help="edit this take (a motion .npz generated from AUDIO with the same --start and --end): "
                        "with --regenerate or --keep-frames")
    edit = parser.add_mutually_exclusive_group()
    edit.add_argument("--regenerate", type=float, nargs=2, default=None, metavar=("START", "END"),
                      help="generate these seconds of the take again (0 = its first frame); the rest is kept "
                      "and the new part joins it")
    edit.add_argument("--keep-frames", type=int, nargs="+", default=None, metavar="FRAME",
                      help="keep these frames of the take (at its frame rate, 0 = its first) and generate the rest "
                      "again around them")
    add_generation_arguments(parser)


def keep_from_args(args):
    """The protocol's ``keep`` object from --from-take with --regenerate or --keep-frames (None without)."""
    if args.from_take is None and args.regenerate is None and args.keep_frames is None:
        return None
    if args.from_take is None or (args.regenerate is None and args.keep_frames is None):
        raise protocol.ProtocolError(protocol.ErrorCode.INVALID_PARAMS, "--from-take goes with --regenerate START END "
                                     "or --keep-frames FRAME...: give the take and what to do with it",
                                     {"param": "keep"})
    if args.regenerate is not None:
        return {"take": str(args.from_take), "regenerate": list(args.regenerate)}
    return {"take": str(args.from_take), "frames": list(args.keep_frames)}


def run(args) -> int:
    output = args.output or args.audio.with_suffix(".npz")
    try:
        params = generation_params(args, args.audio, output, args.start, args.end, not args.no_overwrite,
                                   keep_from_args(args))
        runner = load_runner(args)
    except Exception as exc:  # reported like the service reports it, with its code
        return report_error(exc)
    try:
        result = runner.generate(params, progress=log_progress())
    except Exception as exc:
        return report_error(exc)
    finally:
        runner.close()
    for path in result["outputs"]:
        print(path)
    log.info("%d frames at %g fps in %.1f s", result["frames"], result["fps"], result["elapsed"])
    return 0
