"""``python -m backend vertices``: a motion's mesh vertices on a head, for previews and checks.

Writes an .npz with ``vertices`` (T, V, 3) float32 in metres (FLAME frame: Y up, face +Z),
``faces`` (F, 3) int32, ``landmark_names`` and ``landmark_indices`` (vertex indices), and
``expression_space``.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def add_arguments(parser):
    parser.add_argument("--motion", type=Path, required=True, help="motion .npz with exp (T, 50) and pose (T, 6)")
    parser.add_argument("--out", type=Path, required=True, help="output .npz")
    parser.add_argument("--head", default="builtin",
                        help="'builtin' (ARKit motions) or the path of a FLAME model file "
                             "(generic_model.pkl or flame2023_Open.pkl) for FLAME motions (default: %(default)s)")


def run(args) -> int:
    from ..heads import load_head

    head = load_head(args.head)
    with np.load(args.motion) as data:
        motion = {key: data[key] for key in data.files}
    space = str(motion.get("expression_space", head.expression_space))
    if space != head.expression_space:
        raise SystemExit(
            f"the motion is in the {space!r} expression space but the head {head.name!r} is {head.expression_space!r}; "
            "use --head builtin for ARKit motions and --head PATH_TO_FLAME_FILE for FLAME motions"
        )
    vertices = head.vertices(motion)
    names = sorted(head.landmarks)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        vertices=vertices.astype(np.float32),
        faces=head.faces.astype(np.int32),
        landmark_names=np.array(names),
        landmark_indices=np.array([head.landmarks[n] for n in names], dtype=np.int64),
        expression_space=np.array(head.expression_space),
    )
    log.info("wrote %s: %d frames x %d vertices on head %r", args.out, len(vertices), vertices.shape[1], head.name)
    return 0
