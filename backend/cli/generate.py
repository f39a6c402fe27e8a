"""``python -m backend generate AUDIO``: one audio file -> motion .npz, or an edit of a take made
from it (``--from-take`` with ``--regenerate``, ``--regenerate-word`` or ``--keep-frames``).

Runs exactly what the service runs for a ``generate`` request (``service.runner``), with
the same parameter checks (``protocol.validate_params``, in ``common.generation_params``).
"""
from __future__ import annotations

import logging
from pathlib import Path

from .. import motion_io, protocol
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
                        "with --regenerate, --regenerate-word or --keep-frames")
    edit = parser.add_mutually_exclusive_group()
    edit.add_argument("--regenerate", type=float, nargs=2, default=None, metavar=("START", "END"),
                      help="generate these seconds of the take again (0 = its first frame); the rest is kept "
                      "and the new part joins it")
    edit.add_argument("--regenerate-word", type=int, default=None, metavar="N",
                      help="generate word N of the take again (0 = its first; the take's settings list its timed "
                      "words), widened by --word-margin")
    edit.add_argument("--keep-frames", type=int, nargs="+", default=None, metavar="FRAME",
                      help="keep these frames of the take (at its frame rate, 0 = its first) and generate the rest "
                      "again around them")
    parser.add_argument("--word-margin", type=float, default=0.0, metavar="SECONDS",
                        help="with --regenerate-word: seconds added before and after the word")
    parser.add_argument("--blend", type=int, default=0, metavar="FRAMES",
                        help="with --keep-frames: fade each kept frame's difference from the new motion into the "
                        "new frames over this many frames (for a hand-made pose the model would not make)")
    add_generation_arguments(parser)


def keep_from_args(args):
    """The protocol's ``keep`` object from --from-take with --regenerate, --regenerate-word or
    --keep-frames (None without)."""
    edits = (args.regenerate, args.regenerate_word, args.keep_frames)
    if args.from_take is None and all(edit is None for edit in edits):
        return None
    if args.from_take is None or all(edit is None for edit in edits):
        raise _keep_error("--from-take goes with --regenerate START END, --regenerate-word N or --keep-frames "
                          "FRAME...: give the take and what to do with it")
    if args.regenerate is not None:
        return {"take": str(args.from_take), "regenerate": list(args.regenerate)}
    if args.regenerate_word is not None:
        return {"take": str(args.from_take), "regenerate": word_range(args.from_take, args.regenerate_word,
                                                                      args.word_margin)}
    return {"take": str(args.from_take), "frames": list(args.keep_frames), "blend": args.blend}


def word_range(take, index: int, margin: float) -> list:
    """[start, end] seconds of word ``index`` of ``take`` (its ``settings.words``), ``margin``
    seconds wider on each side, from 0 at the earliest."""
    try:
        words = (motion_io.load_motion(take).get("settings") or {}).get("words") or []
    except motion_io.MotionFileError as exc:
        raise _keep_error(f"--regenerate-word: {exc}") from None
    if not 0 <= index < len(words):
        listed = ", ".join(f"{i} {w['word']!r} ({w['start']:.2f}-{w['end']:.2f} s)" for i, w in enumerate(words))
        raise _keep_error(f"--regenerate-word {index}: the take has {len(words)} timed words"
                          + (f" ({listed})" if words else "; it was made by a model that reads no words, or no words "
                             "were placed: use --regenerate START END"))
    return [max(words[index]["start"] - margin, 0.0), words[index]["end"] + margin]


def _keep_error(message: str) -> protocol.ProtocolError:
    return protocol.ProtocolError(protocol.ErrorCode.INVALID_PARAMS, message, {"param": "keep"})


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
