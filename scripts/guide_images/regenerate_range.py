"""The user guide's picture of Regenerate Range: docs/images/guide/regenerate_range.png.

    .venv/bin/python scripts/guide_images/regenerate_range.py [--out PATH] [--start 0.6] [--end 1.8]

Starts from the take of ``recorded_take.py`` (a real recording, the shipped default model,
seed 0), then regenerates the frames from --start to --end seconds with seed 1, keeping all
the others (the ``keep`` mask the service builds for Regenerate Range). The plot is the built-in head's
mouth opening (mm) over time: grey the take, blue the regenerated take drawn over it, the
sand band the regenerated range. Outside the band the blue line lies exactly on the grey
one; inside it the mouth moves differently and joins the kept frames at both ends.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(Path(__file__).parent)]

from backend.evaluation.png import LinePlot  # noqa: E402
from backend.evaluation.report import eval_head, opening_mm  # noqa: E402
from backend.heads import load_head  # noqa: E402
from recorded_take import recorded_take  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "guide" / "regenerate_range.png")
    parser.add_argument("--start", type=float, default=0.6, help="first regenerated second")
    parser.add_argument("--end", type=float, default=1.8, help="second the regenerated range ends at")
    args = parser.parse_args()
    bundle, audio, features, take = recorded_take()
    fps = float(take["fps"])
    keep = np.ones(len(take["exp"]), bool)
    keep[int(round(args.start * fps)): int(round(args.end * fps))] = False
    regenerated = bundle.generate(audio, speech_features=features, seed=1,
                                  keep={"exp": take["exp"], "pose": take["pose"], "mask": keep})[0]
    head = eval_head(load_head())
    before, after = opening_mm(head, take), opening_mm(head, regenerated)
    seconds = np.arange(len(before)) / fps
    plot = LinePlot(x_range=(0.0, float(seconds[-1])), y_range=(0.0, float(max(before.max(), after.max())) * 1.05),
                    size=(720, 240))
    plot.span(args.start, args.end, "sand", "regenerated range")
    plot.curve(seconds, before, "grey", "the take")
    plot.curve(seconds, after, "blue", "after Regenerate Range")
    plot.save(args.out)
    kept_change = float(np.abs(after[keep] - before[keep]).max())
    print(f"wrote {args.out} ({plot.describe()}); kept frames differ by at most {kept_change:.2g} mm, "
          f"the range by {float(np.abs(after[~keep] - before[~keep]).mean()):.2f} mm on average")


if __name__ == "__main__":
    main()
