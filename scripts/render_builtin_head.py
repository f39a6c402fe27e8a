"""Render the built-in head (neutral and a few shapes) into docs/images/builtin_head.png.

    python scripts/render_builtin_head.py [--out docs/images/builtin_head.png] [--size 320]
    python scripts/render_builtin_head.py --mouth   # close-ups of the open mouth: docs/images/builtin_head_mouth.png

Runs bpy headless (Cycles on the CPU, few samples); builds the head with the add-on's
own rig builder, poses it through shape keys and the jaw bone, and tiles the renders.
"""
import argparse
import importlib
import math
import sys
from pathlib import Path

import bpy
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# (label, shape-key values, jaw opening in radians, view)
POSES = (
    ("neutral", {}, 0.0, "front"),
    ("neutral 3/4", {}, 0.0, "three_quarter"),
    ("profile", {}, 0.0, "profile"),
    ("jaw open", {}, 0.3, "front"),
    ("smile", {"mouthSmileLeft": 1, "mouthSmileRight": 1, "cheekSquintLeft": 0.5, "cheekSquintRight": 0.5}, 0.0, "front"),
    ("pucker", {"mouthPucker": 1}, 0.0, "three_quarter"),
    ("blink + brows up", {"eyeBlinkLeft": 1, "eyeBlinkRight": 1, "browInnerUp": 1}, 0.0, "front"),
    ("funnel + look left", {"mouthFunnel": 1, "eyeLookOutLeft": 1, "eyeLookInRight": 1}, 0.12, "front"),
    ("left smile, right brow down", {"mouthSmileLeft": 1, "browDownRight": 1, "eyeSquintRight": 0.6}, 0.0, "front"),
)
# Close-ups of the mouth: teeth, tongue and the dark cavity behind the lips.
MOUTH_POSES = (
    ("jaw a little open", {}, 0.12, "front"),
    ("jaw open, 3/4", {}, 0.3, "three_quarter"),
    ("tongue out", {"tongueOut": 0.6}, 0.22, "front"),
)
VIEWS = {"front": (0.0, 0.0), "three_quarter": (35.0, 5.0), "profile": (90.0, 0.0)}
HEAD_CAMERA = {"target": (0.0, 0.0, -0.01), "distance": 0.75}
MOUTH_CAMERA = {"target": (0.0, -0.09, -0.035), "distance": 0.3}


def import_addon():
    sys.path.insert(0, str(ROOT.parent))   # the repository is the extension's package
    return importlib.import_module(f"{ROOT.name}.addon.rigs")


def setup_scene(size):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 32
    scene.cycles.use_denoising = True
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.film_transparent = False
    world = bpy.data.worlds.new("World")
    world.color = (0.25, 0.25, 0.27)
    scene.world = world
    for name, rotation, energy in (("key", (40, 10, -35), 3.0), ("fill", (75, 0, 50), 1.5), ("front", (85, 0, 0), 0.8)):
        light = bpy.data.objects.new(name, bpy.data.lights.new(name, "SUN"))
        light.data.energy = energy
        light.rotation_euler = [math.radians(a) for a in rotation]
        scene.collection.objects.link(light)
    camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    camera.data.lens = 85
    scene.collection.objects.link(camera)
    scene.camera = camera
    return scene, camera


def aim(camera, yaw, pitch, target=HEAD_CAMERA["target"], distance=HEAD_CAMERA["distance"]):
    yaw, pitch = math.radians(yaw), math.radians(pitch)
    direction = np.array([math.sin(yaw) * math.cos(pitch), -math.cos(yaw) * math.cos(pitch), math.sin(pitch)])
    camera.location = np.array(target) + distance * direction
    forward = -direction
    camera.rotation_euler = (math.pi / 2 + math.asin(forward[2]), 0.0, math.atan2(-forward[0], forward[1]))


def open_jaw(rig, radians):
    """The jaw bone opened by ``radians`` (about its X axis, positive opens)."""
    rig.pose.bones["jaw"].rotation_quaternion = (math.cos(radians / 2), math.sin(radians / 2), 0, 0)


def render_tile(scene, path: Path) -> np.ndarray:
    """Render the scene's camera; the picture as (height, width, 4) floats, bottom row first."""
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(str(path))
    pixels = np.array(image.pixels[:], dtype=np.float32).reshape(image.size[1], image.size[0], 4)
    bpy.data.images.remove(image)
    return pixels


def save_grid(tiles, columns: int, out: Path):
    """Tiles of one size in rows of ``columns``, first tile top left, as a PNG."""
    height, width = tiles[0].shape[:2]
    rows = math.ceil(len(tiles) / columns)
    grid = np.zeros((rows * height, columns * width, 4), np.float32)
    for k, tile in enumerate(tiles):
        r, c = rows - 1 - k // columns, k % columns   # Blender images start at the bottom
        grid[r * height:(r + 1) * height, c * width:(c + 1) * width] = tile
    image = bpy.data.images.new("grid", grid.shape[1], grid.shape[0])
    image.pixels.foreach_set(grid.ravel())
    image.filepath_raw = str(out)
    image.file_format = "PNG"
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="default: docs/images/builtin_head.png, with --mouth builtin_head_mouth.png")
    parser.add_argument("--mouth", action="store_true", help="close-ups of the open mouth instead of the head")
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--columns", type=int, default=3)
    parser.add_argument("--only", type=int, default=0, help="render only the first N poses (for a quick look)")
    args = parser.parse_args()
    poses, view_camera = (MOUTH_POSES, MOUTH_CAMERA) if args.mouth else (POSES, HEAD_CAMERA)
    args.out = args.out or ROOT / "docs" / "images" / ("builtin_head_mouth.png" if args.mouth else "builtin_head.png")
    rigs = import_addon()
    scene, camera = setup_scene(args.size)
    rig = rigs.add_builtin_head(bpy.context)
    mesh = next(child for child in rig.children if child.get(rigs.KIND_PROP))   # the head, not its teeth
    keys = mesh.data.shape_keys.key_blocks
    tiles = []
    tmp = args.out.with_suffix(".tile.png")
    for label, values, jaw, view in poses[: args.only or None]:
        for block in keys[1:]:
            block.value = values.get(block.name, 0.0)
        open_jaw(rig, jaw)
        aim(camera, *VIEWS[view], **view_camera)
        tiles.append(render_tile(scene, tmp))
        print(f"rendered {label}", flush=True)
    tmp.unlink()
    save_grid(tiles, args.columns, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
