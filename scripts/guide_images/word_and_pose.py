"""The user guide's pictures of Range from Word and Keep Pose: docs/images/guide/regenerate_word.png
and docs/images/guide/keep_pose.png.

    .venv/bin/python scripts/guide_images/word_and_pose.py [--out-dir DIR] [--word 3] [--frame 60] [--blend 6]

Runs what the add-on asks of the backend, through the service's own ``Runner`` and the
add-on's bpy-free take code (``addon/core/takes.py``), on the recording of
``recorded_take.py`` (assets/real_speech/austen_0870 with its transcript, the shipped model,
25 fps, seed 0):

- regenerate_word.png: the built-in head's mouth opening (mm) from a second before word
  --word to a second after it; grey the take,
  blue after regenerating word --word (the sand band: its frames, from the timed words the
  backend returned, as Range from Word sets them), seed 1.
- keep_pose.png: mouthSmileLeft around frame --frame, where a hand-keyed pose (both smiles
  +0.4, browInnerUp +0.4 over the take's values) is kept; grey the take, blue after Keep
  Pose with --blend frames on each side, orange the same without the blend (the model's new
  frames alone, which jump back to its own motion), the diamond the keyed value.
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).parent)]

from backend import DEFAULT_MODEL_DIR, motion_io  # noqa: E402
from backend.evaluation.png import LinePlot  # noqa: E402
from backend.evaluation.report import eval_head, opening_mm  # noqa: E402
from backend.expression_spaces import ARKIT_CHANNELS  # noqa: E402
from backend.heads import load_head  # noqa: E402
from backend.protocol import Method, validate_params  # noqa: E402
from backend.service.runner import Runner  # noqa: E402
from editable_keys import diamond  # noqa: E402
from helpers import frame_roughness  # noqa: E402
from project import import_extension_package  # noqa: E402
from recorded_take import RECORDING  # noqa: E402

import_extension_package()
from diffposetalk.addon.core.takes import Takes  # noqa: E402

FPS = 25.0
HAND_POSE = {"mouthSmileLeft": 0.4, "mouthSmileRight": 0.4, "browInnerUp": 0.4}  # added to the take's values


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "images" / "guide")
    parser.add_argument("--word", type=int, default=3, help="which word to regenerate (0 = the first)")
    parser.add_argument("--frame", type=int, default=60, help="the take's frame (0 = its first) that holds the pose")
    parser.add_argument("--blend", type=int, default=6, help="Pose Blend: frames on each side generated again")
    args = parser.parse_args()
    runner = Runner("cpu")
    runner.load(DEFAULT_MODEL_DIR)
    folder = Path(tempfile.mkdtemp())
    base = {"audio": str(RECORDING.with_suffix(".flac")), "fps": FPS,
            "transcript": RECORDING.with_suffix(".txt").read_text().strip()}

    def generate(name, **params):
        output = folder / f"{name}.npz"
        runner.generate(validate_params(Method.GENERATE, {**base, "output": str(output), **params}))
        return motion_io.load_motion(output)

    try:
        take = generate("take")
        takes = Takes()
        takes.replace([take], scene="", rig="", frame_start=0, fps=FPS, action_name="", request={})
        word = takes.words()[args.word]
        first, last = takes.word_frames(args.word)  # Range from Word, Word Margin 0
        regenerated = generate("word", seed=1, keep={"take": str(folder / "take.npz"),
                                                      "regenerate": takes.range_seconds(first, last)})
        exp, pose = take["exp"][args.frame].copy(), take["pose"][args.frame]
        for name, change in HAND_POSE.items():
            exp[ARKIT_CHANNELS.index(name)] += change
        posed = takes.posed_take(args.frame, exp, pose, np.ones(len(exp), bool), np.ones(6, bool))
        motion_io.save_motion(folder / "posed.npz", posed, take["settings"])
        keep = takes.frames_around(args.frame, args.blend)
        kept = {blend: generate(f"pose{blend}", seed=1, keep={"take": str(folder / "posed.npz"), "frames": keep,
                                                               "blend": blend})
                for blend in (0, args.blend)}
    finally:
        runner.close()
    seconds = np.arange(len(take["exp"])) / FPS
    head = eval_head(load_head())
    before, after = opening_mm(head, take), opening_mm(head, regenerated)
    shown = slice(max(first - 25, 0), last + 26)  # a second on each side of the word
    plot = LinePlot(x_range=(float(seconds[shown][0]), float(seconds[shown][-1])),
                    y_range=(0.0, float(max(before[shown].max(), after[shown].max())) * 1.05), size=(720, 240))
    plot.span(first / FPS, (last + 1) / FPS, "sand", f"the frames of {word['word']!r}")
    plot.curve(seconds[shown], before[shown], "grey", "the take")
    plot.curve(seconds[shown], after[shown], "blue", "after Range from Word and Regenerate Range")
    plot.save(args.out_dir / "regenerate_word.png")
    inside = np.zeros(len(before), bool)
    inside[first:last + 1] = True
    print(f"regenerate_word.png ({plot.describe()}): {word['word']!r} {word['start']:.2f}-{word['end']:.2f} s, "
          f"frames {first}-{last}; kept frames differ by at most {np.abs(after - before)[~inside].max():.2g} mm, "
          f"the word's by {np.abs(after - before)[inside].mean():.2f} mm on average")

    channel = ARKIT_CHANNELS.index("mouthSmileLeft")
    window = slice(max(args.frame - 25, 0), args.frame + 26)
    values = [m["exp"][window, channel] for m in (take, kept[0], kept[args.blend])]
    low, high = min(v.min() for v in values), max(v.max() for v in values)
    pad = 0.1 * (high - low)
    plot = LinePlot(x_range=(float(seconds[window][0]), float(seconds[window][-1])), y_range=(low - pad, high + pad),
                    size=(720, 240))
    plot.span((args.frame - args.blend) / FPS, (args.frame + args.blend) / FPS, "sky",
              f"{args.blend} frames each side generated again")
    plot.curve(seconds[window], values[0], "grey", "the take")
    plot.curve(seconds[window], values[1], "orange", "the new frames without the blend")
    plot.curve(seconds[window], values[2], "blue", f"after Keep Pose (Pose Blend {args.blend})")
    plot.curve(*diamond(plot, args.frame / FPS, exp[channel]), "black", "the hand-keyed value")
    plot.save(args.out_dir / "keep_pose.png")
    vectors = [np.concatenate([m["exp"], m["pose"]], 1) for m in (take, kept[0], kept[args.blend])]
    natural = frame_roughness(vectors[0], vectors[0])
    near = slice(args.frame - args.blend - 2, args.frame + args.blend + 1)  # entry i is frame i + 1
    seams = [frame_roughness(v, vectors[0])[near].max() for v in vectors[1:]]
    print(f"keep_pose.png ({plot.describe()}): roughest frame near the pose {seams[1]:.3f} with the blend, "
          f"{seams[0]:.3f} without; the take's frames: median {np.median(natural):.3f}, 99th percentile "
          f"{np.percentile(natural, 99):.3f}; the pose frame holds {kept[args.blend]['exp'][args.frame, channel]:.4f} "
          f"(keyed {exp[channel]:.4f})")


if __name__ == "__main__":
    main()
