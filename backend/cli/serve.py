"""``python -m backend serve``: the protocol service the Blender add-on starts (docs/protocol.md)."""
from __future__ import annotations

import logging
import os
import sys

from .common import add_checkpoint_arguments, default_checkpoint


def add_arguments(parser):
    add_checkpoint_arguments(parser, "the shipped model if present, else none: send load_model")
    parser.add_argument("--no-model", action="store_true", help="start without loading any model")


def run(args) -> int:
    from ..service import Server

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
