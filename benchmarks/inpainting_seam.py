"""How well a regenerated range, or a kept hand-made pose, joins the take around it (``generate``
with ``keep``).

    nice .venv/bin/python benchmarks/inpainting_seam.py [--checkpoint DIR] [--ranges 10] [--poses 10]

On about 11 s of real speech (three recordings of assets/real_speech, transcripts given)
it makes a take, then regenerates random ranges of it (10 to 150 frames, each with another
seed) and measures the roughness of each join (``tests/helpers.frame_roughness``: the
acceleration at the join, per channel in units of the take's own 99th percentile, mean
over channels) against three references: every frame of the take, the joins between the
model's own 100-frame windows in fresh takes, and the same range pasted in from a fresh
take (what regenerating without inpainting would give). Each figure is also given as the
percentile of the take's frames it equals (50: a typical frame, 100: rougher than all).

Then it keeps a pose the model would not make (both smiles and browInnerUp 0.4 above the
take's) on random frames, as Keep Pose does: every frame kept but the 6 (or 12) frames on
each side, which are generated again, and each kept frame's difference faded into them
over as many frames (``keep.blend``, the service's ``fade_into_new``). The figure is the
roughest frame from the new frames' outer edges through the pose, for the take itself
(no edit: how rough the roughest of those frames is anyway), the new frames alone (blend
0, what ``keep.frames`` gave before ``blend``) and with the blend.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from backend import DEFAULT_MODEL_DIR, audio_io  # noqa: E402
from backend.expression_spaces import ARKIT_CHANNELS  # noqa: E402
from backend.service.takes import fade_into_new  # noqa: E402
from helpers import frame_roughness, seam_roughness  # noqa: E402

RECORDINGS = ("austen_0870", "austen_0880", "cards_001")
HAND_POSE = {"mouthSmileLeft": 0.4, "mouthSmileRight": 0.4, "browInnerUp": 0.4}  # added to the take's values
RINGS = (6, 12)  # new frames on each side of a kept pose, and the blend over them


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_MODEL_DIR))
    parser.add_argument("--ranges", type=int, default=10)
    parser.add_argument("--poses", type=int, default=10)
    args = parser.parse_args()
    from backend.model import load_model
    from backend.model.stats import motion_to_vector
    from backend.speech.features import features_from_audio

    folder = ROOT / "assets" / "real_speech"
    audio = np.concatenate([audio_io.load_audio(folder / f"{name}.flac") for name in RECORDINGS])
    words = " ".join((folder / f"{name}.txt").read_text().strip() for name in RECORDINGS)
    bundle = load_model(args.checkpoint)
    features = features_from_audio(audio, words)

    def generate(seed, keep=None):
        motion = bundle.generate(audio, speech_features=features, seed=seed, keep=keep)[0]
        return motion, motion_to_vector(motion["exp"], motion["pose"], bundle.stats, bundle.head_pose)

    take, take_vec = generate(0)
    n = len(take_vec)
    natural = frame_roughness(take_vec, take_vec)
    rng = np.random.default_rng(0)
    joins = {"inpainted": [], "pasted": [], "model's window borders": []}
    seconds = []
    for seed in range(1, args.ranges + 1):
        start = int(rng.integers(15, n - 130))
        end = min(n - 10, start + int(rng.integers(10, 150)))
        keep = np.ones(n, bool)
        keep[start:end] = False
        started = time.perf_counter()
        _, vec = generate(seed, {"exp": take["exp"], "pose": take["pose"], "mask": keep})
        seconds.append(time.perf_counter() - started)
        fresh = generate(seed)[1]
        pasted = take_vec.copy()
        pasted[start:end] = fresh[start:end]
        joins["inpainted"] += [seam_roughness(vec, border, take_vec) for border in (start, end)]
        joins["pasted"] += [seam_roughness(pasted, border, take_vec) for border in (start, end)]
        joins["model's window borders"] += [seam_roughness(fresh, border, take_vec) for border in range(100, n, 100)]
    print(f"model {bundle.name}, {n} frames, {args.ranges} ranges; take's frames: median "
          f"{np.median(natural):.3f}, 90th percentile {np.percentile(natural, 90):.3f}")
    for name, values in joins.items():
        percentile = np.mean([np.mean(natural < value) for value in values]) * 100
        print(f"  {name:24s} mean {np.mean(values):.3f} (percentile {percentile:.0f}), max {np.max(values):.3f}")
    print(f"  regenerating a range: {np.mean(seconds):.2f} s on average")

    def percentile(value):
        return np.mean(natural < value) * 100

    seams, steps = {}, {}
    keyed = [ARKIT_CHANNELS.index(name) for name in HAND_POSE]
    speed = np.percentile(np.abs(np.diff(take_vec[:, keyed], axis=0)), 99, axis=0)
    for seed in range(1, args.poses + 1):
        frame = int(rng.integers(20, n - 20))
        exp = take["exp"].copy()
        for name, change in HAND_POSE.items():
            exp[frame, ARKIT_CHANNELS.index(name)] += change
        for ring in RINGS:
            keep = np.ones(n, bool)
            keep[frame - ring: frame + ring + 1] = False
            keep[frame] = True
            near = slice(frame - ring - 2, frame + ring + 1)  # frame_roughness entry i is frame i + 1
            motion, vec = generate(seed, {"exp": exp, "pose": take["pose"], "mask": keep})
            faded = motion_to_vector(fade_into_new(motion["exp"], keep, ring), fade_into_new(motion["pose"], keep, ring),
                                     bundle.stats, bundle.head_pose)
            for name, values in (("the take itself", take_vec), ("new frames alone (blend 0)", vec),
                                 (f"blend {ring}", faded)):
                seams.setdefault((ring, name), []).append(frame_roughness(values, take_vec)[near].max())
                steps.setdefault((ring, name), []).append(np.mean(
                    np.abs(values[[frame - 1, frame + 1]][:, keyed] - values[frame, keyed]).max(0) / speed))
    print(f"  a kept pose on {args.poses} frames: the roughest frame from the new frames' outer edges through the "
          "pose; the step from the pose to the frames beside it in the keyed channels, in units of the take's 99th "
          "percentile step")
    for (ring, name), values in seams.items():
        print(f"    {ring:2d} new frames each side, {name:27s} mean {np.mean(values):.3f} (percentile "
              f"{np.mean([np.mean(natural < v) * 100 for v in values]):.0f}), max {np.max(values):.3f}; "
              f"step {np.mean(steps[ring, name]):.2f}")


if __name__ == "__main__":
    main()
