"""Names and places the add-on's modules share."""
from __future__ import annotations

from pathlib import Path

import bpy

from ..backend import DEFAULT_MODEL_DIR  # noqa: F401 (re-exported for the add-on)

# The add-on is the subpackage ``addon`` of the extension; preferences belong to the
# extension's package (e.g. ``bl_ext.user_default.diffposetalk``).
ROOT_PACKAGE = __package__.rpartition(".")[0]
ROOT_DIR = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT_DIR / "requirements.txt"
PINNED_REQUIREMENTS = ROOT_DIR / "requirements-speech.txt"


def preferences(context=None):
    context = context or bpy.context
    return context.preferences.addons[ROOT_PACKAGE].preferences


def user_dir(name: str) -> Path:
    """A folder of ours under the extension's user directory (kept across updates)."""
    return Path(bpy.utils.extension_path_user(ROOT_PACKAGE, path=name, create=True))


def tag_redraw(context=None):
    """Redraw 3D view sidebars and preferences so progress shows (no-op without a window)."""
    wm = (context or bpy.context).window_manager
    for window in wm.windows:
        for area in window.screen.areas:
            if area.type in {"VIEW_3D", "PREFERENCES"}:
                area.tag_redraw()
