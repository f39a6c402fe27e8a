"""How long the rig side takes in bpy: adding the built-in head, writing a 10-minute take,
and writing a 30-second take onto a bone rig driven through pose Actions.

    python benchmarks/rig_write_speed.py [--minutes 10] [--scene-fps 30] [--bone-seconds 30]

Prints seconds for ``add_builtin_head`` and for ``write_motion`` of a random motion
(25 fps, 50 expression channels, head and jaw) onto that head, and for reading it back;
then for a face rig of ``BONE_RIG_BONES`` bones with one pose Action per ARKit channel
(each keying location and rotation of ``BONES_PER_POSE`` bones, in the spirit of Rigify's
face controls), mapped through the mapping text: reading the poses (``rig_spec``) and
writing the take (``write_motion``, poses combined additively per frame).
"""
import argparse
import importlib
import sys
import time
from pathlib import Path

import bpy
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--scene-fps", type=float, default=30.0)
    parser.add_argument("--bone-seconds", type=float, default=30.0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT.parent))   # the repository is the extension's package
    rigs = importlib.import_module(f"{ROOT.name}.addon.rigs")
    animation = importlib.import_module(f"{ROOT.name}.addon.animation")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = int(args.scene_fps), 1.0

    started = time.perf_counter()
    rig = rigs.add_builtin_head(bpy.context)
    print(f"add_builtin_head: {time.perf_counter() - started:.2f} s")

    frames = int(args.minutes * 60 * 25)
    rng = np.random.default_rng(0)
    motion = {"exp": rng.uniform(0, 1, (frames, 50)).astype(np.float32),
              "pose": rng.normal(0, 0.1, (frames, 6)).astype(np.float32), "fps": 25.0, "expression_space": "arkit"}
    started = time.perf_counter()
    result = animation.write_motion(rig, motion, 1, args.scene_fps, "benchmark")
    elapsed = time.perf_counter() - started
    print(f"write_motion: {frames} frames x 58 curves in {elapsed:.3f} s ({', '.join(result.actions)})")
    started = time.perf_counter()
    animation.read_motion(rig, 1, 1 + (frames - 1) * args.scene_fps / 25.0)
    print(f"read_motion: {time.perf_counter() - started:.3f} s")
    bone_rig(args.bone_seconds, args.scene_fps)


BONE_RIG_BONES = 60
BONES_PER_POSE = 3


def bone_rig(seconds, scene_fps):
    """Time a take onto an armature whose ARKit channels are mapped to pose Actions."""
    rng = np.random.default_rng(1)
    rigs = importlib.import_module(f"{ROOT.name}.addon.rigs")
    animation = importlib.import_module(f"{ROOT.name}.addon.animation")
    mapping = importlib.import_module(f"{ROOT.name}.addon.core.mapping")
    spaces = importlib.import_module(f"{ROOT.name}.backend.expression_spaces")
    armature = bpy.data.armatures.new("Face")
    rig = bpy.data.objects.new("Face", armature)
    bpy.context.scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    names = ["head", "jaw"] + [f"face.{k:02d}" for k in range(BONE_RIG_BONES - 2)]
    for k, name in enumerate(names):
        bone = armature.edit_bones.new(name)
        bone.head, bone.tail = (0.01 * k, 0, 0), (0.01 * k, 0, 0.02)
    bpy.ops.object.mode_set(mode="OBJECT")
    rig.animation_data_create()
    channels = {}
    for channel in spaces.ARKIT_CHANNELS:
        action = bpy.data.actions.new(f"{channel}_pose")
        rig.animation_data.action = action
        for name in rng.choice(names[2:], BONES_PER_POSE, replace=False):
            bone = rig.pose.bones[name]
            bone.location = rng.normal(0, 0.005, 3)
            bone.rotation_quaternion = (1, *rng.normal(0, 0.05, 3))
            bone.keyframe_insert("location", frame=1)
            bone.keyframe_insert("rotation_quaternion", frame=1)
            bone.location, bone.rotation_quaternion = (0, 0, 0), (1, 0, 0, 0)
        channels[channel] = mapping.Target(action.name, 1.0, True)
    rig.animation_data.action = None
    rigs.set_custom_mapping(rig, "arkit", channels)
    frames = int(seconds * 25)
    motion = {"exp": rng.uniform(0, 1, (frames, 50)).astype(np.float32),
              "pose": rng.normal(0, 0.1, (frames, 6)).astype(np.float32), "fps": 25.0, "expression_space": "arkit"}
    started = time.perf_counter()
    spec = rigs.rig_spec(rig)[0]
    spec_s = time.perf_counter() - started
    started = time.perf_counter()
    result = animation.write_motion(rig, motion, 1, scene_fps, "bone benchmark")
    elapsed = time.perf_counter() - started
    bones = len(spec.rotation_modes)
    print(f"bone rig: {len(channels)} poses over {bones} bones read in {spec_s:.3f} s; a {seconds:g} s take "
          f"({len(result.actions)} Action, {result.frame_keys // max(1, frames)} curves x {frames} keys) "
          f"written in {elapsed:.3f} s")


if __name__ == "__main__":
    main()
