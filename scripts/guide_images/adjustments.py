"""The user guide's picture of the Jaw adjustment: docs/images/guide/adjustments.png.

    .venv/bin/python scripts/guide_images/adjustments.py [--out PATH] [--size 160]

Takes a clip of the synthetic corpus (its motion has a closure in every p/b/m), picks its
widest-open frame and the bilabial closure with the most open jaw, applies Jaw 0.5, 1.0
and 1.5 with the backend's own adjustments, and renders the built-in head in real Blender
(the staging of ``scripts/render_builtin_head.py``): top row the open frame, bottom row the
closure, Jaw 0.5, 1.0, 1.5 from left to right. The closed lips stay closed in every column.
"""
import argparse
import importlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from backend.data.synthetic.generate import CorpusConfig, make_clip  # noqa: E402
from backend.evaluation.lipsync import CLOSED_MM  # noqa: E402
from backend.evaluation.report import eval_head, opening_mm  # noqa: E402
from backend.expression_spaces import ARKIT_CHANNELS  # noqa: E402
from backend.heads import load_head  # noqa: E402
from backend.model.adjustments import Adjustments, apply_adjustments  # noqa: E402
from backend.speech.phones import mouth_class  # noqa: E402

JAW_SCALES = (0.5, 1.0, 1.5)


def pick_frames(motion, phones):
    """(widest-open frame, the shut bilabial frame with the most open jaw)."""
    opening = opening_mm(eval_head(load_head()), motion)
    shut = [k for phone, start, end in phones if mouth_class(phone) == "bilabial"
            for k in range(int(start * 25), int(np.ceil(end * 25))) if k < len(opening) and opening[k] <= CLOSED_MM]
    closure = max(shut, key=lambda k: motion["pose"][k, 3])
    return int(np.argmax(opening)), closure


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "guide" / "adjustments.png")
    parser.add_argument("--size", type=int, default=160)
    args = parser.parse_args()
    clip, _audio, _meta = make_clip(CorpusConfig(seed=3, n_clips=4, n_speakers=2, augment_probability=0.0), 0)
    motion = {"exp": clip.exp.astype(np.float32), "pose": clip.pose.astype(np.float32), "fps": 25.0,
              "expression_space": "arkit"}
    frames = pick_frames(motion, clip.phones)
    adjusted = [apply_adjustments(motion, Adjustments(jaw=scale)) for scale in JAW_SCALES]
    # bpy only now: the corpus' espeak-ng runs in a forkserver process, which imports this
    # script again and must not start Blender.
    import bpy

    staging = importlib.import_module("render_builtin_head")
    rigs = staging.import_addon()
    scene, camera = staging.setup_scene(args.size)
    rig = rigs.add_builtin_head(bpy.context)
    mesh = next(child for child in rig.children if child.get(rigs.KIND_PROP))   # the head, not its teeth
    keys = mesh.data.shape_keys.key_blocks
    staging.aim(camera, *staging.VIEWS["front"], target=(0.0, 0.0, -0.05), distance=0.4)
    tiles = []
    for frame in frames:
        for take in adjusted:
            for name, value in zip(ARKIT_CHANNELS, take["exp"][frame]):
                keys[name].value = float(value)
            staging.open_jaw(rig, float(take["pose"][frame, 3]))
            tiles.append(staging.render_tile(scene, args.out.with_suffix(".tile.png")))
    args.out.with_suffix(".tile.png").unlink()
    staging.save_grid(tiles, len(JAW_SCALES), args.out)
    print(f"wrote {args.out} (frames {frames[0]} open, {frames[1]} closed; jaw {', '.join(map(str, JAW_SCALES))})")


if __name__ == "__main__":
    main()
