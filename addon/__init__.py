"""The Blender side: preferences, the Lip Sync panel and its operators.

Each module lists its classes in ``CLASSES``; they register in order and unregister in
reverse. A failure part-way rolls back what was registered, so Blender is never left
with half an add-on.
"""
import bpy

from . import panels

MODULES = (panels,)


def _classes():
    return [cls for module in MODULES for cls in module.CLASSES]


def register():
    registered = []
    try:
        for cls in _classes():
            bpy.utils.register_class(cls)
            registered.append(cls)
    except Exception:
        for cls in reversed(registered):
            bpy.utils.unregister_class(cls)
        raise


def unregister():
    for cls in reversed(_classes()):
        if getattr(cls, "is_registered", False):
            bpy.utils.unregister_class(cls)
