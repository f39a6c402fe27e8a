"""``python -m backend generate AUDIO``: one audio file -> motion .npz.

Runs exactly what the service runs for a ``generate`` request (``service.runner``), with
the same parameter checks (``protocol.validate_params``, in ``common.generation_params``).
"""
from __future__ import annotations

import logging
from pathlib import Path

from .common import add_generation_arguments, generation_params, load_runner, log_progress, report_error

log = logging.getLogger(__name__)


def add_arguments(parser):
    parser.add_argument("audio", type=Path, help="audio file: WAV, FLAC, OGG or MP3")
    parser.add_argument("-o", "--output", type=Path, default=None, help="output .npz (default: AUDIO with .npz)")
    parser.add_argument("--start", type=float, default=None, help="use the audio from this second")
    parser.add_argument("--end", type=float, default=None, help="use the audio up to this second")
    parser.add_argument("--transcript", default=None, help="what is said, if known")
    parser.add_argument("--no-overwrite", action="store_true", help="fail if the output exists")
    add_generation_arguments(parser)


def run(args) -> int:
    output = args.output or args.audio.with_suffix(".npz")
    try:
        params = generation_params(args, args.audio, output, args.start, args.end, not args.no_overwrite)
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
