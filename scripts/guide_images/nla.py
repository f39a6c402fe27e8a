"""The user guide's picture of Takes as NLA Strips: docs/images/guide/nla.png.

    .venv/bin/python scripts/guide_images/nla.py [--out PATH] [--channel mouthClose]

On the built-in head in real Blender: --channel keyed by hand in the Key's active Action
(rising from 0.5 to 0.9), then two simple takes written as strips with the add-on's own
``animation.write_motion`` and an ``NlaLayer`` (take 1: a wobble around 0.1, frames
20-75, Blend In/Out 8/8; take 2: a slow rise around 0.35, frames 55-105, Blend In/Out
12/6), each on a track of its own on top of the pushed-down hand Action. Each frame is
then played with ``scene.frame_set`` and the channel's shape-key value read: what plays.
A strip's influence is measured from what plays, not taken from its settings: with the
tracks above it muted, (value with its track - value without) / (its take - value without).
"""
import argparse
import importlib
import math
import sys
from pathlib import Path

import bpy
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import render_builtin_head  # noqa: E402  (imports the add-on as the package Blender sees)
from backend.evaluation.png import LinePlot  # noqa: E402
from backend.expression_spaces import ARKIT_CHANNELS  # noqa: E402

FPS = 25
LAST_FRAME = 120
HAND_KEYS = ((1, 0.5), (LAST_FRAME, 0.9))   # (frame, value) of the hand animation
# take name: (first frame, frames, blend in, blend out, value at each of its frames t = 0..1)
TAKES = {
    "take 1": (20, 56, 8, 8, lambda t: 0.1 + 0.05 * np.sin(2 * math.pi * 3 * t)),
    "take 2": (55, 51, 12, 6, lambda t: 0.3 + 0.1 * t),
}


def motion(channel, values):
    exp = np.zeros((len(values), len(ARKIT_CHANNELS)))
    exp[:, ARKIT_CHANNELS.index(channel)] = values
    return {"exp": exp, "pose": np.zeros((len(values), 6)), "fps": float(FPS), "expression_space": "arkit"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "guide" / "nla.png")
    parser.add_argument("--channel", default="mouthClose", choices=ARKIT_CHANNELS)
    args = parser.parse_args()
    rigs = render_builtin_head.import_addon()
    animation = importlib.import_module(f"{ROOT.name}.addon.animation")
    scene, _ = render_builtin_head.setup_scene(64)
    scene.render.fps = FPS
    rig = rigs.add_builtin_head(bpy.context)
    mesh = next(o for o in rig.children if o.type == "MESH" and o.data.shape_keys
                and args.channel in o.data.shape_keys.key_blocks)
    key = mesh.data.shape_keys
    block = key.key_blocks[args.channel]
    for frame, value in HAND_KEYS:
        block.value = value
        block.keyframe_insert("value", frame=frame)
    take_values = {}
    for name, (start, length, blend_in, blend_out, shape) in TAKES.items():
        values = shape(np.linspace(0, 1, length))
        animation.write_motion(rig, motion(args.channel, values), start, FPS, name,
                               layer=animation.NlaLayer(name, blend_in, blend_out))
        take_values[name] = dict(zip(range(start, start + length), values))
    tracks = list(key.animation_data.nla_tracks)   # the hand Action's, then one per take
    assert key.animation_data.action is None and len(tracks) == 1 + len(TAKES), [t.name for t in tracks]
    frames = np.arange(1, LAST_FRAME + 1)

    def played(top):
        """The channel on every frame with tracks[:top + 1] playing, those above muted."""
        for i, track in enumerate(tracks):
            track.mute = i > top
        values = []
        for frame in frames:
            scene.frame_set(int(frame))
            values.append(block.value)
        return np.array(values)

    levels = [played(i) for i in range(len(tracks))]
    influences = {}
    for i, name in enumerate(TAKES, start=1):
        take = np.array([take_values[name].get(int(f), np.nan) for f in frames])
        with np.errstate(invalid="ignore"):
            influences[name] = np.nan_to_num((levels[i] - levels[i - 1]) / (take - levels[i - 1]))
    plot = LinePlot(x_range=(0, LAST_FRAME + 1), y_range=(-0.03, 1.03), size=(720, 260))
    plot.guide(1.0, "grey", "influence 1")
    plot.curve(frames, levels[0], "grey", f"the hand-keyed {args.channel} (the pushed-down Action)")
    colours = {"take 1": ("green", "blue"), "take 2": ("purple", "orange")}   # its curve, its influence
    for name, (start, length, *_rest) in TAKES.items():
        take_frames = np.arange(start, start + length)
        curve_colour, influence_colour = colours[name]
        plot.curve(take_frames, [take_values[name][f] for f in take_frames], curve_colour, f"{name}'s own curve")
        plot.curve(frames, influences[name], influence_colour, f"{name}'s influence")
    plot.curve(frames, levels[-1], "black", f"{args.channel} as Blender plays it")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot.save(args.out)
    print(f"wrote {args.out}: {plot.describe()}")
    for name, (start, length, blend_in, blend_out, _) in TAKES.items():
        ramp = influences[name][start - 1: start + blend_in]
        print(f"{name}: frames {start}-{start + length - 1}, influence over the blend in "
              f"{np.round(ramp, 3).tolist()}, max {influences[name].max():.3f}")
    for frame in (10, 24, 40, 60, 90, 115):
        print(f"frame {frame}: plays {levels[-1][frame - 1]:.3f}")


if __name__ == "__main__":
    main()
