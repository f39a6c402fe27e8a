"""The user guide's picture of Editable Keys: docs/images/guide/editable_keys.png.

    .venv/bin/python scripts/guide_images/editable_keys.py [--out PATH] [--channel mouthClose] [--tolerance 0.01]

One shape-key channel of the take of ``recorded_take.py`` (a real recording, the shipped
default model), its first --seconds: grey the value on every frame (what the add-on writes
without Editable Keys), blue the Bezier curve through the keys ``addon/core/key_reduction``
keeps at --tolerance, each key a black diamond. The blue curve stays within the tolerance
of the grey one at every frame.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(Path(__file__).parent)]

from addon.core.key_reduction import evaluate, reduce_keys  # noqa: E402
from backend.evaluation.png import LinePlot  # noqa: E402
from backend.expression_spaces import ARKIT_CHANNELS  # noqa: E402
from recorded_take import recorded_take  # noqa: E402

DIAMOND_PX = 5   # half the width of a key's marker


def diamond(plot, x, y):
    """A diamond around (x, y), DIAMOND_PX pixels each way, in the plot's data units."""
    width, height = plot.size
    dx = DIAMOND_PX * (plot.x_range[1] - plot.x_range[0]) / (width - 2 * plot.margin)
    dy = DIAMOND_PX * (plot.y_range[1] - plot.y_range[0]) / (height - 2 * plot.margin)
    return [x - dx, x, x + dx, x, x - dx], [y, y + dy, y, y - dy, y]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "guide" / "editable_keys.png")
    parser.add_argument("--channel", default="mouthClose", choices=ARKIT_CHANNELS)
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    take = recorded_take()[3]
    values = take["exp"][: int(round(args.seconds * take["fps"])), ARKIT_CHANNELS.index(args.channel)]
    frames = np.arange(1, len(values) + 1, dtype=float)   # scene frames from 1, as the add-on writes them
    curve = reduce_keys(frames, values, args.tolerance)
    fine = np.linspace(frames[0], frames[-1], 8 * len(frames))
    low, high = float(values.min()), float(values.max())
    pad = 0.08 * (high - low)
    plot = LinePlot(x_range=(frames[0] - 1, frames[-1] + 1), y_range=(low - pad, high + pad), size=(720, 240))
    plot.curve(frames, values, "grey", f"{args.channel} on every frame")
    plot.curve(fine, evaluate(curve, fine), "blue", f"the Bezier curve of the keys at tolerance {args.tolerance:g}")
    for x, y in curve.co:
        plot.curve(*diamond(plot, x, y), "black", "a key")
    plot.save(args.out)
    print(f"wrote {args.out} ({args.channel}, frames 1-{len(frames)}, values {low:.3f}-{high:.3f}): "
          f"{len(curve.keys)} keys for {len(frames)} frames, largest difference {curve.max_error:.4f}")


if __name__ == "__main__":
    main()
