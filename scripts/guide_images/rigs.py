"""The user guide's picture of a bone rig: one frame of a take on the built-in head (left)
and on a small bone face driven through pose Actions (right), rendered side by side.

    .venv/bin/python scripts/guide_images/rigs.py [--take TAKE.npz] [--out docs/images/guide/rigs.png]

Without --take it makes one from the bundled speech sample with the default model
(``python -m backend generate`` in a subprocess). The bone face is an armature whose
bones carry simple shapes (lips, mouth corners, lids, brows, a jaw); its ARKit channels
are mapped to pose Actions through the add-on's mapping, the take is written onto both
rigs with ``animation.write_motion``, and the frame with the widest jaw opening is rendered
with Cycles on the CPU.
"""
import argparse
import importlib
import subprocess
import sys
import tempfile
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix, Quaternion

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import render_builtin_head  # noqa: E402  (its scene: Cycles on the CPU, lights, camera)
SAMPLE = ROOT / "assets" / "speech_sample.flac"
FACE_X = 0.13   # the bone face sits this far right of the built-in head, the head as far left
WIDTH, HEIGHT = 480, 270

# bone: (head position, parent); the face looks down -Y like the built-in head
BONES = {
    "head": ((0.0, 0.0, -0.06), None),
    "jaw": ((0.0, 0.0, -0.02), "head"),
    "lip.T": ((0.0, -0.085, -0.045), "head"),
    "lip.B": ((0.0, -0.08, -0.062), "jaw"),
    "corner.L": ((0.028, -0.075, -0.053), "head"),
    "corner.R": ((-0.028, -0.075, -0.053), "head"),
    "lid.L": ((0.03, -0.058, 0.03), "head"),   # at the eye's centre: the lid turns down over it
    "lid.R": ((-0.03, -0.058, 0.03), "head"),
    "brow.L": ((0.032, -0.075, 0.058), "head"),
    "brow.R": ((-0.032, -0.075, 0.058), "head"),
}
# channel: {(bone, channel): value at 1}; locations in metres, rotations as quaternions
POSES = {
    "mouthSmileLeft": {("corner.L", "location"): (0.008, 0.004, 0.012)},
    "mouthSmileRight": {("corner.R", "location"): (-0.008, 0.004, 0.012)},
    "mouthFunnel": {("lip.T", "location"): (0, -0.012, 0.004), ("lip.B", "location"): (0, -0.012, -0.004),
                    ("corner.L", "location"): (-0.008, -0.004, 0), ("corner.R", "location"): (0.008, -0.004, 0)},
    "mouthPucker": {("lip.T", "location"): (0, -0.015, 0), ("lip.B", "location"): (0, -0.015, 0),
                    ("corner.L", "location"): (-0.012, -0.006, 0), ("corner.R", "location"): (0.012, -0.006, 0)},
    "mouthClose": {("lip.B", "location"): (0, 0, 0.015)},
    "mouthUpperUpLeft": {("lip.T", "location"): (0, 0, 0.006)},
    "mouthLowerDownLeft": {("lip.B", "location"): (0, 0, -0.006)},
    "browInnerUp": {("brow.L", "location"): (0, 0, 0.012), ("brow.R", "location"): (0, 0, 0.012)},
    "browDownLeft": {("brow.L", "location"): (0, 0, -0.01)},
    "browDownRight": {("brow.R", "location"): (0, 0, -0.01)},
    "eyeBlinkLeft": {("lid.L", "rotation_quaternion"): Quaternion((1, 0, 0), 1.3)},
    "eyeBlinkRight": {("lid.R", "rotation_quaternion"): Quaternion((1, 0, 0), 1.3)},
}
COLOURS = {"skin": (0.62, 0.66, 0.74, 1), "lips": (0.62, 0.27, 0.26, 1), "eyes": (0.92, 0.9, 0.87, 1),
           "dark": (0.12, 0.12, 0.14, 1)}


def make_take(path: Path):
    subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "backend", "generate", str(SAMPLE),
                    "-o", str(path), "--fps", "25", "--seed", "3"], cwd=ROOT, check=True)


def material(name):
    mat = bpy.data.materials.new(name)
    mat.diffuse_color = COLOURS[name]
    mat.use_nodes = True
    shader = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    shader.inputs["Base Color"].default_value = COLOURS[name]
    shader.inputs["Roughness"].default_value = 0.5
    return mat


def shape(kind, name, location, scale, mat, rig=None, bone=None):
    """A primitive at ``location`` (world), parented to ``bone`` of ``rig`` without moving."""
    if kind == "sphere":
        bpy.ops.mesh.primitive_uv_sphere_add(segments=32, ring_count=16, radius=1.0, location=location)
    else:
        bpy.ops.mesh.primitive_cube_add(size=2.0, location=location)
    obj = bpy.context.object
    obj.name = name
    obj.scale = scale
    obj.data.materials.append(mat)
    bpy.ops.object.shade_smooth()
    if rig is not None:
        world = obj.matrix_world.copy()
        obj.parent, obj.parent_type, obj.parent_bone = rig, "BONE", bone
        pose_bone = rig.pose.bones[bone]
        tail = rig.matrix_world @ pose_bone.matrix @ Matrix.Translation((0, pose_bone.length, 0))
        obj.matrix_parent_inverse = tail.inverted()
        obj.matrix_world = world
    return obj


def bone_face(rigs):
    """The schematic bone face, its poses as Actions and its mapping; returns the armature."""
    offset = np.array([FACE_X, 0.0, 0.0])
    armature = bpy.data.armatures.new("Bone face")
    rig = bpy.data.objects.new("Bone face", armature)
    bpy.context.scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    for name, (head, parent) in BONES.items():
        bone = armature.edit_bones.new(name)
        bone.head = offset + head
        bone.tail = offset + head + np.array([0.0, 0.0, 0.01])
        if parent:
            bone.parent = armature.edit_bones[parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    bpy.context.view_layer.update()
    mats = {name: material(name) for name in COLOURS}
    at = lambda p: tuple(offset + p)  # noqa: E731
    shape("sphere", "skull", at((0, 0, 0.0)), (0.075, 0.08, 0.1), mats["skin"], rig, "head")
    shape("sphere", "chin", at((0, -0.035, -0.078)), (0.045, 0.045, 0.028), mats["skin"], rig, "jaw")
    shape("sphere", "lip.T", at(BONES["lip.T"][0]), (0.024, 0.008, 0.006), mats["lips"], rig, "lip.T")
    shape("sphere", "lip.B", at(BONES["lip.B"][0]), (0.022, 0.008, 0.007), mats["lips"], rig, "lip.B")
    for side in "LR":
        shape("sphere", f"corner.{side}", at(BONES[f"corner.{side}"][0]), (0.006,) * 3, mats["lips"], rig,
              f"corner.{side}")
        x = 0.03 if side == "L" else -0.03
        shape("sphere", f"eye.{side}", at((x, -0.058, 0.03)), (0.014,) * 3, mats["eyes"], rig, "head")
        shape("sphere", f"pupil.{side}", at((x, -0.071, 0.03)), (0.005,) * 3, mats["dark"], rig, "head")
        shape("sphere", f"lid.{side}", at((x, -0.064, 0.046)), (0.016, 0.008, 0.004), mats["skin"], rig,
              f"lid.{side}")
        shape("cube", f"brow.{side}", at(BONES[f"brow.{side}"][0]), (0.016, 0.004, 0.003), mats["dark"], rig,
              f"brow.{side}")
    rig.animation_data_create()
    channels = {}
    for channel, values in POSES.items():
        action = bpy.data.actions.new(f"{channel}_pose")
        rig.animation_data.action = action
        for (bone, prop), value in values.items():
            setattr(rig.pose.bones[bone], prop, value)
            rig.pose.bones[bone].keyframe_insert(prop, frame=1)
        rig.animation_data.action = None
        for pose_bone in rig.pose.bones:
            pose_bone.location, pose_bone.rotation_quaternion = (0, 0, 0), (1, 0, 0, 0)
        channels[channel] = (action.name, 1.0, True)
    rigs.set_custom_mapping(rig, "arkit", channels)
    return rig


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--take", type=Path, help="a motion .npz (default: generated from the bundled sample)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "guide" / "rigs.png")
    args = parser.parse_args()
    rigs = render_builtin_head.import_addon()
    animation = importlib.import_module(f"{ROOT.name}.addon.animation")
    with tempfile.TemporaryDirectory() as tmp:
        take = args.take
        if take is None:
            take = Path(tmp) / "take.npz"
            make_take(take)
        with np.load(take) as data:
            motion = {"exp": data["exp"], "pose": data["pose"], "fps": float(data["fps"]),
                      "expression_space": str(data["expression_space"])}
        scene, camera = render_builtin_head.setup_scene(HEIGHT)
        scene.render.resolution_x = WIDTH
        scene.cycles.samples = 24
        scene.render.fps = 25
        render_builtin_head.aim(camera, 0.0, 0.0, target=(0.0, 0.0, -0.01), distance=1.25)
        bpy.context.scene.cursor.location = (-FACE_X, 0.0, 0.0)
        head = rigs.add_builtin_head(bpy.context)
        face = bone_face(rigs)
        for rig in (head, face):
            animation.write_motion(rig, motion, 1, 25.0, "guide take")
        frame = 1 + int(np.argmax(motion["pose"][:, 3]))
        scene.frame_set(frame)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        scene.render.image_settings.file_format = "PNG"
        scene.render.image_settings.color_mode = "RGB"
        scene.render.filepath = str(args.out)
        bpy.ops.render.render(write_still=True)
    print(f"wrote {args.out} (frame {frame} of the take)")


if __name__ == "__main__":
    main()
