"""The main job: a speech sample -> an animated head (.blend), an FBX and a preview video.

    .venv/bin/python scripts/demo.py [--out out/demo] [--audio FILE] [--checkpoint DIR]

Drives the real extension the way an animator would, headless: builds the extension zip
with Blender's builder, installs it into a throw-away Blender user folder, adds the
built-in head with the add-on's Add Head operator, puts the speech on a sound strip, runs
Generate Lip-Sync (the add-on starts ``python -m backend serve`` with the model), applies
the take, runs Bake & Export FBX, saves the .blend (sound packed in) and renders a short
preview with Cycles on the CPU, muxed with the speech by ffmpeg.

Without --checkpoint it uses the shipped default model (backend/models/default).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from backend import DEFAULT_MODEL_DIR  # noqa: E402  (the package root is stdlib-only)
from backend.timebase import FPS as MODEL_FPS  # noqa: E402  (stdlib-only too)

SAMPLE = ROOT / "assets" / "speech_sample.flac"
PACKAGE = "bl_ext.user_default.diffposetalk"
SCENE_FPS = int(MODEL_FPS)  # the scene plays at the model's own rate: no resampling in the demo


class DemoError(Exception):
    """The demo cannot go on; the message says what to do."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "demo", help="folder for the results (default: out/demo)")
    parser.add_argument("--audio", type=Path, default=SAMPLE, help="speech to animate (default: the bundled sample)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="a checkpoint folder of this project (default: the shipped model)")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    parser.add_argument("--size", type=int, default=240, help="preview width and height in pixels (default: 240)")
    parser.add_argument("--samples", type=int, default=2, help="Cycles samples per pixel (default: 2)")
    return parser.parse_args(argv)


def check_inputs(args):
    if args.checkpoint is None and not (DEFAULT_MODEL_DIR / "config.json").is_file():
        raise DemoError(
            f"the default model is missing ({DEFAULT_MODEL_DIR}/config.json). Train it with "
            "'.venv/bin/python -m backend train-default' (docs/training.md), or run the demo with "
            "--checkpoint DIR (a checkpoint folder of this project)")
    if args.checkpoint is not None and not (args.checkpoint / "config.json").is_file():
        raise DemoError(f"{args.checkpoint} is not a checkpoint folder (it has no config.json)")
    if not args.audio.is_file():
        raise DemoError(f"the speech file {args.audio} is missing")
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise DemoError(f"{tool} is not installed; run 'bash scripts/setup.sh' (it installs it with apt)")


def build_extension(folder: Path) -> Path:
    """The extension zip, built and validated by Blender's own tooling."""
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--output-dir", str(folder)],
                   check=True, stdout=subprocess.DEVNULL)
    (zip_path,) = folder.glob("*.zip")
    return zip_path


class Demo:
    """The steps, in bpy; each one uses the add-on's operators as the panel would."""

    def __init__(self, args, zip_path: Path):
        import bpy

        self.bpy = bpy
        self.args = args
        self.zip_path = zip_path
        sys.path.insert(0, str(ROOT / "scripts"))
        self.staging = importlib.import_module("render_builtin_head")

    def stage_scene(self):
        """Camera, lights and world of the head renders, at the preview's size."""
        scene, camera = self.staging.setup_scene(self.args.size)
        self.staging.aim(camera, 15.0, 3.0, target=(0.0, 0.0, 0.01), distance=0.68)
        scene.render.fps, scene.render.fps_base = SCENE_FPS, 1.0
        # Two samples and two bounces are noisy; the denoiser, fed the noisy colour only,
        # cleans that up for less than more samples would cost (about 0.3 s a frame on 2 cores).
        scene.cycles.samples = self.args.samples
        scene.cycles.max_bounces = 2
        scene.cycles.use_denoising = True
        scene.cycles.denoising_input_passes = "RGB"
        scene.cycles.denoising_prefilter = "NONE"
        scene.render.use_persistent_data = True
        return scene

    def install_extension(self):
        bpy = self.bpy
        with quiet_stdout():
            bpy.ops.extensions.package_install_files(filepath=str(self.zip_path), repo="user_default",
                                                     enable_on_install=True)
        self.service = importlib.import_module(PACKAGE + ".addon.service")
        prefs = bpy.context.preferences.addons[PACKAGE].preferences
        prefs.python = sys.executable  # this environment has the backend's packages
        if self.args.checkpoint is not None:
            prefs.model_source = "CHECKPOINT"
            prefs.checkpoint = str(self.args.checkpoint.resolve())

    def add_head_and_speech(self, scene):
        bpy = self.bpy
        bpy.ops.diffposetalk.add_head(kind="BUILTIN")  # added, selected and active: the rig to animate
        strip = scene.sequence_editor_create().strips.new_sound("speech", str(self.args.audio.resolve()), 1, 1)
        strip.sound.pack()  # the .blend carries its audio
        scene.frame_start, scene.frame_end = 1, strip.frame_final_end - 1

    def generate(self, scene):
        bpy, service = self.bpy, self.service
        settings = scene.diffposetalk
        if self.args.steps:
            settings.quality, settings.steps = "CUSTOM", self.args.steps
        try:
            bpy.ops.diffposetalk.generate()
        except RuntimeError as exc:  # the operator reported an error (no backend, no model...)
            raise DemoError(f"Generate Lip-Sync refused to start: {exc}") from None
        stage = None
        while service.drain_events():  # what Blender's timer does between redraws
            job = service.SESSION.job
            if job.stage != stage:
                stage = job.stage
                print(f"  {stage}", flush=True)
            time.sleep(0.1)
        state = bpy.context.window_manager.diffposetalk
        if state.message_is_error:
            raise DemoError(f"Generate Lip-Sync failed: {state.message}")

    def export_and_save(self, scene, out: Path):
        bpy = self.bpy
        fbx, blend = out / "demo.fbx", out / "demo.blend"
        try:
            with quiet_stdout():  # the exporter's progress lines
                bpy.ops.diffposetalk.export_fbx(filepath=str(fbx))
        except RuntimeError as exc:
            raise DemoError(f"Bake & Export FBX failed: {exc}") from None
        settings = scene.diffposetalk
        scene.frame_start, scene.frame_end = settings.take_frame_start, settings.take_frame_end
        scene.frame_set(scene.frame_start)
        blend.unlink(missing_ok=True)  # no demo.blend1 backup beside it
        with quiet_stdout():
            bpy.ops.wm.save_as_mainfile(filepath=str(blend))
        return fbx, blend

    def render_frames(self, scene, folder: Path):
        scene.render.image_settings.file_format = "PNG"
        scene.render.filepath = str(folder / "####")
        with quiet_stdout():  # Blender prints a line per saved frame
            self.bpy.ops.render.render(animation=True)
        return scene.frame_start

    def stop(self):
        self.bpy.ops.preferences.addon_disable(module=PACKAGE)  # stops the backend


@contextlib.contextmanager
def quiet_stdout():
    """Silence Blender's own lines on stdout (C code writes to the file descriptor)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def encode_video(frames: Path, first_frame: int, audio: Path, video: Path):
    """H.264 from the PNG frames with the speech as AAC, cut to the shorter of the two."""
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-framerate", str(SCENE_FPS), "-start_number", str(first_frame),
         "-i", str(frames / "%04d.png"), "-i", str(audio), "-map", "0:v", "-map", "1:a",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "20", "-c:a", "aac", "-b:a", "128k", "-shortest",
         str(video)],
        check=True)


def contact_sheet(frames: Path, sheet: Path, columns: int = 6, rows: int = 2):
    """Frames spread over the whole take, tiled into one picture (for a quick look and the docs)."""
    count = len(list(frames.glob("*.png")))
    every = max(1, -(-count // (columns * rows)))
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-pattern_type", "glob", "-i", str(frames / "*.png"),
         "-vf", f"select='not(mod(n\\,{every}))',tile={columns}x{rows}", "-frames:v", "1", "-update", "1", str(sheet)],
        check=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        check_inputs(args)
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="diffposetalk-demo-") as tmp:
        tmp = Path(tmp)
        # bpy writes its user folders on import: keep them (and the installed extension) out of the real home.
        os.environ.update(HOME=str(tmp / "home"), BLENDER_USER_RESOURCES=str(tmp / "blender"))
        started = time.perf_counter()
        print("demo: building the extension", flush=True)
        zip_path = build_extension(tmp / "build")
        demo = Demo(args, zip_path)
        scene = demo.stage_scene()
        print(f"demo: installing {zip_path.name} into a temporary Blender user folder", flush=True)
        demo.install_extension()
        try:
            demo.add_head_and_speech(scene)
            print(f"demo: Generate Lip-Sync on {args.audio.name} (the backend loads the model first)", flush=True)
            demo.generate(scene)
            print("demo: Bake & Export FBX, save the .blend", flush=True)
            fbx, blend = demo.export_and_save(scene, out)
            print(f"demo: rendering {scene.frame_end - scene.frame_start + 1} frames "
                  f"({args.size}x{args.size}, Cycles CPU, {args.samples} samples)", flush=True)
            render_started = time.perf_counter()
            first = demo.render_frames(scene, tmp / "frames")
            render_s = time.perf_counter() - render_started
        except DemoError as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return 1
        finally:
            demo.stop()
        video, sheet = out / "preview.mp4", out / "preview_frames.png"
        encode_video(tmp / "frames", first, args.audio, video)
        contact_sheet(tmp / "frames", sheet)
    print(f"demo: done in {time.perf_counter() - started:.0f} s (render {render_s:.0f} s). Results:")
    for label, path in (("animated head", blend), ("FBX", fbx), ("preview video", video), ("preview frames", sheet)):
        print(f"  {label + ':':<16}{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
