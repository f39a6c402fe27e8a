"""Fixtures for the add-on's Blender tests (imported by them): the built extension and a prelude.

Every Blender test installs the extension zip built by Blender's own builder, as a user
would, and talks to the add-on through its operators and its ``drain_events``.
"""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from project import ROOT, isolated_env

FAKE_BACKEND = Path(__file__).with_name("fake_backend.py")
# The backend's interpreter: the project's environment (so the Blender tests also run
# under other bpy versions installed elsewhere), else this one.
PROJECT_PYTHON = ROOT / ".venv" / "bin" / "python"
BACKEND_PYTHON = str(PROJECT_PYTHON) if PROJECT_PYTHON.is_file() else sys.executable
DEFAULT_MODEL = ROOT / "backend" / "models" / "default"

# Runs inside bpy before a test's own script: install and enable the extension, point the
# preferences at a backend, and define helpers. ARGS["zip"] and ARGS["python"] are set by
# ``blender_addon``.
PRELUDE = '''
import importlib, time
import bpy
import numpy as np

PKG = "bl_ext.user_default.diffposetalk"
bpy.ops.extensions.package_install_files(filepath=ARGS["zip"], repo="user_default", enable_on_install=True)
service = importlib.import_module(PKG + ".addon.service")
generation = importlib.import_module(PKG + ".addon.generation")
prefs = bpy.context.preferences.addons[PKG].preferences
prefs.python = ARGS["python"]
if ARGS.get("checkpoint"):
    prefs.model_source = "CHECKPOINT"
    prefs.checkpoint = ARGS["checkpoint"]
prefs.device = "cpu"
scene = bpy.context.scene
wm = bpy.context.window_manager


def drain(timeout=120.0):
    deadline = time.monotonic() + timeout
    while service.drain_events():
        if time.monotonic() > deadline:
            raise TimeoutError("the job did not end")
        time.sleep(0.05)


def add_strip(path, frame_start=1, name="speech"):
    editor = scene.sequence_editor_create()
    return editor.strips.new_sound(name, str(path), 1, frame_start)


def write_wav(path, seconds, rate=16000):
    import wave
    t = np.arange(int(seconds * rate)) / rate
    data = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t)) * 16000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1); out.setsampwidth(2); out.setframerate(rate); out.writeframes(data.tobytes())
    return path


def snapshot():
    """What a failed job must leave as it was."""
    def anim(idblock):
        ad = idblock.animation_data
        if ad is None:
            return None
        return [ad.action.name if ad.action else None, [t.name for t in ad.nla_tracks]]
    return {
        "actions": sorted((a.name, a.users) for a in bpy.data.actions),
        "objects": {ob.name: anim(ob) for ob in bpy.data.objects},
        "keys": {k.name: anim(k) for k in bpy.data.shape_keys},
        "frames": [bpy.context.scene.frame_start, bpy.context.scene.frame_end, bpy.context.scene.frame_current],
    }


def fcurves(idblock):
    """The F-curves of the Action assigned to ``idblock`` (slotted on 4.4+, legacy on 4.2)."""
    ad = idblock.animation_data
    if ad is None or ad.action is None:
        return []
    action = ad.action
    if not hasattr(action, "layers"):
        return list(action.fcurves)
    curves = []
    for layer in action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(ad.action_slot)
            if bag is not None:
                curves.extend(bag.fcurves)
    return curves


def keys(fcurve):
    co = np.zeros(2 * len(fcurve.keyframe_points))
    fcurve.keyframe_points.foreach_get("co", co)
    return co.reshape(-1, 2)


class CheckingLayout:
    """Stands in for a UI layout in background Blender (which has none): it checks that
    every property, operator and collection a draw() names exists, and records labels."""

    def __init__(self, log):
        self.log = log

    def __getattr__(self, name):  # use_property_split, alignment, enabled...
        return None

    def _sub(self, *args, **kwargs):
        return CheckingLayout(self.log)

    column = row = box = split = _sub

    def label(self, text="", **kwargs):
        self.log.append(("label", text))

    def prop(self, data, name, **kwargs):
        assert name in data.bl_rna.properties, f"{type(data).__name__} has no property {name!r}"
        self.log.append(("prop", name))

    def prop_search(self, data, name, search_data, search_name, **kwargs):
        assert name in data.bl_rna.properties and search_name in search_data.bl_rna.properties
        self.log.append(("prop_search", search_name))

    def operator(self, idname, **kwargs):
        module, name = idname.split(".")
        assert hasattr(getattr(bpy.ops, module), name), idname
        self.log.append(("operator", idname))
        return OperatorProperties(getattr(getattr(bpy.ops, module), name).get_rna_type().properties.keys())

    def progress(self, factor=0.0, type="BAR", text=""):
        assert 0.0 <= factor <= 1.0
        self.log.append(("progress", text))

    def template_list(self, list_type, list_id, data, name, active_data, active_name, **kwargs):
        assert name in data.bl_rna.properties and active_name in active_data.bl_rna.properties
        self.log.append(("list", name))


class OperatorProperties:
    """What layout.operator() returns: setting a property the operator lacks is an error."""

    def __init__(self, names):
        object.__setattr__(self, "_names", set(names))

    def __setattr__(self, name, value):
        assert name in self._names, f"the operator has no property {name!r}"


def draw(cls, data=None):
    """Run ``cls.draw`` against a checking layout; ``data`` stands in for ``self`` (preferences)."""
    log = []
    fields = {}
    if data is not None:
        fields = {k: getattr(data, k) for k in data.bl_rna.properties.keys() if k != "rna_type"}
        fields["bl_rna"] = data.bl_rna
    holder = type("Drawn", (), dict(fields, layout=CheckingLayout(log)))()
    cls.draw(holder, bpy.context)
    return log


def take_curves(rig):
    """(curve, values) for every curve written for the shown variation of the take, with
    the values the take's motion gives it on ``frames`` (the take's scene frames)."""
    rigs = importlib.import_module(PKG + ".addon.rigs")
    rig_math = importlib.import_module(PKG + ".addon.core.rig_math")
    spec, armature, meshes = rigs.rig_spec(rig)
    takes = generation.TAKES
    expected = rig_math.motion_to_curves(takes.motion(takes.shown), spec, takes.frame_start, takes.fps)
    curves = {fc.data_path: fc for mesh in meshes for fc in fcurves(mesh.data.shape_keys)}
    curves.update({(fc.data_path, fc.array_index): fc for fc in fcurves(armature)})
    wanted = [(curves[f'key_blocks["{name}"].value'], values) for name, values in expected.shape_keys.items()]
    wanted += [(curves[(f'pose.bones["{bone}"].rotation_quaternion', i)], quats[:, i])
               for bone, quats in expected.rotations.items() for i in range(4)]
    return wanted, expected.frames


def curve_error(wanted, frames):
    """The largest difference of Blender's own evaluation of the curves from their values."""
    return max(max(abs(fc.evaluate(float(f)) - v) for f, v in zip(frames, values)) for fc, values in wanted)


def generate():
    """Run the Generate operator; returns its error text, or None when the job started."""
    try:
        bpy.ops.diffposetalk.generate()
    except RuntimeError as exc:
        return str(exc)
    return None


def select_only(obj):
    for other in bpy.context.view_layer.objects:
        other.select_set(other == obj)
    bpy.context.view_layer.objects.active = obj


def generate_on(obj):
    """Select ``obj`` and run Generate and its job: (the operator's error or None, whether
    the scene is as it was)."""
    select_only(obj)
    before = snapshot()
    started = generate()
    if started is None:
        drain()
    return started, snapshot() == before


def use_audio_file(seconds, frame_start=1, steps=None):
    """Generate from a test tone of ``seconds`` placed at ``frame_start`` (an audio file:
    4.2's bpy has no sound strips); ``steps``: custom sampler steps."""
    settings = scene.diffposetalk
    settings.audio_source = "FILE"
    settings.audio_file = str(write_wav(TMP / "line.wav", seconds))
    settings.file_frame_start = frame_start
    if steps is not None:
        settings.quality, settings.steps = "CUSTOM", steps
    return settings
'''


# A rig for the stand-in's ARKit motion: the built-in head, added by our operator.
MAKE_RIG = '''
bpy.ops.diffposetalk.add_head(kind="BUILTIN")
rig = bpy.context.object
'''


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("extension")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--output-dir", str(out)],
        capture_output=True, text=True, env=isolated_env(out / "home"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (zip_path,) = out.glob("*.zip")
    return zip_path


def fake_python(tmp_path, mode):
    """An executable that the add-on runs as "the backend's Python": the stand-in service."""
    script = tmp_path / f"fake-python-{mode}"
    script.write_text(f'#!/bin/sh\nexec "{BACKEND_PYTHON}" "{FAKE_BACKEND}" {mode} "$@"\n')
    script.chmod(0o755)
    return str(script)


@pytest.fixture(scope="session")
def tiny_arkit_checkpoint(tmp_path_factory):
    """A random-weight ARKit-space model written by the model package's checkpoint writer."""
    from helpers import tiny_checkpoint

    return tiny_checkpoint(tmp_path_factory.mktemp("checkpoint") / "tiny-arkit", "tiny-arkit", "arkit")


@pytest.fixture
def blender_addon(run_blender, extension_zip, tmp_path):
    """Run ``script`` in bpy with the extension installed.

    ``backend`` is a mode of the stand-in service, or "real" for ``python -m backend serve``
    with ``checkpoint`` (None: the shipped default model). With ``rig=True`` the script
    starts with the built-in head added and selected as ``rig``.
    """

    def run(script, backend="ok", rig=False, checkpoint=None, **args):
        if backend == "real":
            python, checkpoint = BACKEND_PYTHON, checkpoint and str(checkpoint)
        else:
            python, checkpoint = fake_python(tmp_path, backend), str(tmp_path)
        script = PRELUDE + (MAKE_RIG if rig else "") + textwrap.dedent(script)
        return run_blender(script, zip=str(extension_zip), python=python, checkpoint=checkpoint, **args)

    return run
