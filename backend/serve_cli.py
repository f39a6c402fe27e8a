"""``python -m backend serve``: the protocol service the Blender add-on starts (docs/protocol.md)."""
from __future__ import annotations

import logging
import os
import sys

from . import DEFAULT_MODEL_DIR



def add_checkpoint_arguments(parser, default_help="none"):
    parser.add_argument("--checkpoint", help="our checkpoint folder, or a released DiffPoseTalk denoiser .pt "
                        f"(default: {default_help})")
    parser.add_argument("--style-encoder", help="released DiffPoseTalk style encoder .pt (with a released checkpoint)")
    parser.add_argument("--stats", help="released DiffPoseTalk stats .npz (with a released checkpoint)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: the cores this process may use, at most 8)")
    parser.add_argument("--speech-model", default=None, metavar="FOLDER",
                        help="a faster-whisper (CTranslate2) model folder for the speech recognizer, e.g. base, "
                        "small or a multilingual one (default: the bundled tiny.en)")
    parser.add_argument("--speech-workers", type=int, default=None, metavar="N",
                        help="processes of the speech front-end (default: one per core, at most 4)")


def default_checkpoint():
    """The model shipped with the backend, if this installation has it."""
    return str(DEFAULT_MODEL_DIR) if (DEFAULT_MODEL_DIR / "config.json").exists() else None


def add_arguments(parser):
    add_checkpoint_arguments(parser, "the shipped model if present, else none: send load_model")
    parser.add_argument("--no-model", action="store_true", help="start without loading any model")


def run(args) -> int:
    from .service import Server

    # Protocol messages get a private copy of stdout; file descriptor 1 then points at
    # stderr, so nothing else (a library's print, a C extension) can corrupt the stream.
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="ascii", newline="\n")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    checkpoint = None if args.no_model else (args.checkpoint or default_checkpoint())
    server = Server(sys.stdin.buffer, protocol_out, checkpoint=checkpoint, style_encoder=args.style_encoder,
                    stats=args.stats, device=args.device, threads=args.threads, speech_model=args.speech_model,
                    speech_workers=args.speech_workers)
    code = server.serve()
    # The reader thread may be blocked reading stdin while holding its lock, and Python's
    # normal exit would then abort; everything is answered and flushed, so leave directly.
    protocol_out.flush()
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)
