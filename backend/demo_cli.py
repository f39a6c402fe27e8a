"""The main job: bundled speech sample -> animated built-in head (.blend), FBX and preview."""
from __future__ import annotations

import logging
from pathlib import Path

from . import DEFAULT_MODEL_DIR

log = logging.getLogger(__name__)



def add_arguments(parser):
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the results (default: out)")


def run(args) -> int:
    if not (DEFAULT_MODEL_DIR / "config.json").exists():
        print(
            "demo: the environment is set up, but this version does not ship the default model yet "
            f"({DEFAULT_MODEL_DIR} is missing), so there is nothing to generate with. "
            "Run the tests with: bash scripts/test.sh"
        )
        return 0
    raise NotImplementedError("the demo pipeline lands with the default model")
