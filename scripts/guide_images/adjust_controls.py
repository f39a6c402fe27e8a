"""The user guide's plots of the Adjust controls other than Jaw (``adjustments.py`` renders
that one): docs/images/guide/adjust_{parts,head,offset,smoothing}.png.

    .venv/bin/python scripts/guide_images/adjust_controls.py [--folder docs/images/guide]

Each plot is one channel of the take of ``recorded_take.py`` (a real recording, the shipped
default model) over time, adjusted with the backend's own ``apply_adjustments``:

- adjust_parts.png, three plots stacked: mouthFunnel under Mouth, browInnerUp under Brows,
  eyeWideRight under Eyes; orange 0.5, grey 1.0 (the take), blue 1.5.
- adjust_head.png: the head's x rotation (nodding, degrees) under Head Motion 0.5, 1, 1.5.
- adjust_offset.png: the mouth opening (mm) of the first 2 s under Lip-Sync Offset -2,
  0 and +2 frames (orange, grey, blue).
- adjust_smoothing.png: the mouth opening (mm) of the first 3 s at Smoothing 0 (grey) and
  1 (blue); the dotted line is the opening under which the lips count as shut.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(Path(__file__).parent)]

from backend.evaluation.lipsync import CLOSED_MM  # noqa: E402
from backend.evaluation.png import LinePlot, write_png  # noqa: E402
from backend.evaluation.report import eval_head, opening_mm  # noqa: E402
from backend.expression_spaces import ARKIT_CHANNELS  # noqa: E402
from backend.heads import load_head  # noqa: E402
from backend.model.adjustments import Adjustments, apply_adjustments  # noqa: E402
from recorded_take import recorded_take  # noqa: E402

SIZE = (640, 130)
GAP = 10   # white rows between stacked plots
# (value, colour) of each control's curves: the take itself is always grey.
SCALES = ((0.5, "orange"), (1.0, "grey"), (1.5, "blue"))
OFFSETS = ((-2, "orange"), (0, "grey"), (2, "blue"))


def plot_of(curves, seconds, guide=None):
    """curves: (label, colour, values per frame) over the first ``seconds`` of 25 fps frames."""
    n = int(round(seconds * 25))
    x = np.arange(n) / 25
    values = np.concatenate([v[:n] for _, _, v in curves])
    low, high = float(values.min()), float(values.max())
    pad = 0.06 * (high - low)
    plot = LinePlot(x_range=(0.0, float(x[-1])), y_range=(low - pad, high + pad), size=SIZE)
    if guide is not None:
        plot.guide(guide[0], "red", guide[1])
    for label, color, v in curves:
        plot.curve(x, v[:n], color, label)
    return plot


def stacked(plots, path):
    gap = np.full((GAP, SIZE[0], 3), 255, np.uint8)
    rows = []
    for plot in plots:
        rows += [plot.render(), gap]
    write_png(path, np.concatenate(rows[:-1]))
    for plot in plots:
        print(f"  {path.name}: {plot.describe()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=ROOT / "docs" / "images" / "guide")
    args = parser.parse_args()
    take = recorded_take()[3]
    seconds = len(take["exp"]) / 25

    def adjusted(**control):
        return apply_adjustments(take, Adjustments(**control))

    def channel(name, control):
        return plot_of([(f"{control} {value:g}", color, adjusted(**{control: value})["exp"][:, ARKIT_CHANNELS.index(name)])
                        for value, color in SCALES], seconds)

    stacked([channel("mouthFunnel", "mouth"), channel("browInnerUp", "brows"), channel("eyeWideRight", "eyes")],
            args.folder / "adjust_parts.png")
    nod = [(f"head {value:g}", color, np.degrees(adjusted(head=value)["pose"][:, 0])) for value, color in SCALES]
    stacked([plot_of(nod, seconds)], args.folder / "adjust_head.png")
    head = eval_head(load_head())
    offset = [(f"lip sync offset {frames:+d}", color, opening_mm(head, adjusted(lip_sync_offset=frames)))
              for frames, color in OFFSETS]
    stacked([plot_of(offset, 2.0)], args.folder / "adjust_offset.png")
    smooth = [(f"smoothing {value:g}", color, opening_mm(head, adjusted(smoothing=value)))
              for value, color in ((0.0, "grey"), (1.0, "blue"))]
    stacked([plot_of(smooth, 3.0, (CLOSED_MM, "lips shut"))], args.folder / "adjust_smoothing.png")


if __name__ == "__main__":
    main()
