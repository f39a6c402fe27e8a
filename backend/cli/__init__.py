"""Command line: ``python -m backend COMMAND ...``.

Each command lives in its own module with ``add_arguments(parser)`` and ``run(args)``;
options that several commands take and the error printing are in ``common.py``.
A module is imported only when its command runs, so ``--help`` and ``serve`` start fast.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .. import __version__

# command -> (module inside backend, one-line help). Add a line here to add a command.
COMMANDS = {
    "serve": ("cli.serve", "run the protocol service on stdin/stdout (the Blender add-on starts this)"),
    "generate": ("cli.generate", "make a motion .npz from one audio file"),
    "batch": ("cli.batch", "make motion .npz files for a folder of audio files (skips finished ones)"),
    "train-default": ("cli.train_default", "train the shipped default model from nothing (corpus, style encoder, denoiser, report)"),
    "train-style": ("cli.train_style", "train a style encoder (contrastive) on a corpus"),
    "train-denoiser": ("cli.train_denoiser", "train the denoiser on a corpus with a trained style encoder"),
    "evaluate": ("cli.evaluate", "evaluate a model on held-out clips and real recordings (markdown + PNG report)"),
    "import-checkpoint": ("cli.import_checkpoint", "convert released DiffPoseTalk files into our checkpoint format"),
    "vertices": ("cli.vertices", "a motion's vertices on the built-in or a FLAME head (.npz)"),
    "import-data": ("cli.import_data", "import recorded takes into a training corpus"),
    "synth-data": ("cli.synth_data", "generate a synthetic speech-and-motion corpus"),
}


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m backend",
        description="DiffPoseTalk backend: speech to facial animation (expression, jaw and "
        "head pose at 25 fps) for the Blender add-on and the command line.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers = {}
    for name, (module_name, help_text) in COMMANDS.items():
        subparsers[name] = commands.add_parser(name, help=help_text, description=help_text)
    return parser, subparsers


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, subparsers = _build_parser()
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    module = None
    if chosen in COMMANDS:
        module = importlib.import_module(f"..{COMMANDS[chosen][0]}", __package__)
        module.add_arguments(subparsers[chosen])
    args = parser.parse_args(argv)
    if module is None:
        parser.print_help()
        return 0
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return int(module.run(args) or 0)
