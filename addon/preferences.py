"""Preferences: the backend's Python, the model and the device; set up and check the backend."""
from __future__ import annotations

import sys

import bpy
from bpy.props import EnumProperty, FloatProperty, StringProperty

from . import common, service
from .core import backend_env
from .reporting import Checked


class DIFFPOSETALK_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = common.ROOT_PACKAGE

    python: StringProperty(
        name="Backend Python",
        description="Python interpreter of the backend's environment. Empty: the project's .venv, "
        "or the environment made by Set up backend",
        subtype="FILE_PATH",
    )
    model_source: EnumProperty(
        name="Model",
        items=(
            ("DEFAULT", "Shipped default", "The model that comes with the extension"),
            ("RELEASED", "Released DiffPoseTalk files", "A released denoiser .pt with its style encoder and stats"),
            ("CHECKPOINT", "Checkpoint folder", "A checkpoint folder trained with this project"),
        ),
        default="DEFAULT",
    )
    checkpoint: StringProperty(name="Checkpoint", description="Denoiser .pt or checkpoint folder", subtype="FILE_PATH")
    style_encoder: StringProperty(name="Style Encoder", description="Released style encoder .pt", subtype="FILE_PATH")
    stats: StringProperty(name="Stats", description="Released normalization stats .npz", subtype="FILE_PATH")
    device: EnumProperty(
        name="Device",
        items=(
            ("auto", "Automatic", "CUDA, then Apple MPS, then CPU"),
            ("cpu", "CPU", "Always works; slower"),
            ("cuda", "CUDA", "NVIDIA GPU"),
            ("mps", "Apple MPS", "Apple silicon GPU"),
        ),
        default="auto",
    )
    speech_model: StringProperty(
        name="Speech Model",
        description="A faster-whisper (CTranslate2) model folder for the speech recognizer, e.g. base, small or a "
        "multilingual one. Empty: the bundled tiny.en (English)",
        subtype="DIR_PATH",
    )
    # The last check or setup result, shown below the buttons.
    status: StringProperty(name="Status", options={"SKIP_SAVE"})

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        col = layout.column()
        col.prop(self, "python")
        found = service.backend_python(self, cached=True)
        col.label(text=f"Using: {found}" if found else "No backend environment found", icon="CHECKMARK" if found else "ERROR")
        col.prop(self, "model_source")
        if self.model_source == "RELEASED":
            col.prop(self, "checkpoint", text="Denoiser")
            col.prop(self, "style_encoder")
            col.prop(self, "stats")
        elif self.model_source == "CHECKPOINT":
            col.prop(self, "checkpoint")
        col.prop(self, "device")
        col.prop(self, "speech_model")
        row = layout.row()
        row.operator(DIFFPOSETALK_OT_setup_backend.bl_idname, icon="IMPORT")
        row.operator(DIFFPOSETALK_OT_check_backend.bl_idname, icon="PLAY")
        if service.SETUP is not None and service.SETUP.state == "running":
            layout.progress(factor=service.SETUP.fraction, type="BAR", text=service.SETUP.last_line[-80:] or "Setting up")
        if self.status:
            for line in self.status.splitlines()[:8]:
                layout.label(text=line)


def _refuse(operator, prefs, message: str) -> set:
    """A preferences operator's failure: shown under the buttons and reported."""
    prefs.status = message
    operator.report({"ERROR"}, message)
    return {"CANCELLED"}


class DIFFPOSETALK_OT_check_backend(Checked, bpy.types.Operator):
    """Start the backend and read its hello: shows its version and device"""

    bl_idname = "diffposetalk.check_backend"
    bl_label = "Check Backend"

    timeout: FloatProperty(default=60.0, min=1.0, options={"SKIP_SAVE", "HIDDEN"})

    @classmethod
    def disabled_reason(cls, context):
        return "A job is running; wait for it or cancel it" if service.SESSION.busy else None

    def execute(self, context):
        prefs = common.preferences(context)
        try:
            hello = service.check(prefs, self.timeout)
        except service.NotReady as exc:
            return _refuse(self, prefs, str(exc))
        prefs.status = (
            f"Backend {hello.get('backend_version')} is running on {hello.get('device')} "
            f"(protocol {hello.get('protocol')})"
        )
        self.report({"INFO"}, prefs.status)
        return {"FINISHED"}


class DIFFPOSETALK_OT_setup_backend(Checked, bpy.types.Operator):
    """Create the backend's Python environment and install its packages (downloads about 1 GB)"""

    bl_idname = "diffposetalk.setup_backend"
    bl_label = "Set up Backend"

    @classmethod
    def disabled_reason(cls, context):
        return "Setup is running" if service.SETUP is not None and service.SETUP.state == "running" else None

    def execute(self, context):
        prefs = common.preferences(context)
        if not bpy.app.online_access:
            return _refuse(self, prefs, (
                "Setting up the backend downloads its packages, and Blender's online access is off: allow it in "
                "Preferences > System > Network, or make the environment yourself and set Backend Python"
            ))
        try:
            requirements = backend_env.backend_requirements(common.REQUIREMENTS)
            pinned = backend_env.pinned_requirements(common.PINNED_REQUIREMENTS)
        except backend_env.SetupError as exc:
            return _refuse(self, prefs, str(exc))
        service.start_setup(sys.executable, common.user_dir(service.SETUP_ENV), requirements, pinned)
        prefs.status = "Setting up the backend environment..."
        return {"FINISHED"}


CLASSES = (DIFFPOSETALK_OT_check_backend, DIFFPOSETALK_OT_setup_backend, DIFFPOSETALK_AP_preferences)
