"""The Blender side: preferences, the Lip Sync panel and its operators.

Imports are lazy so that the bpy-free ``addon.core`` is importable without Blender.
Each module lists its classes in ``CLASSES``; they register in order and unregister in
reverse. A failure part-way rolls back what was registered, so Blender is never left
with half an add-on. Unregistering stops the backend first.
"""


def _modules():
    from . import add_head, export, generation, mapping_ops, panels, preferences, properties

    return (properties, preferences, generation, add_head, mapping_ops, export, panels)


def _classes():
    return [cls for module in _modules() for cls in module.CLASSES]


def register():
    import bpy

    from . import properties, service

    registered = []
    try:
        for cls in _classes():
            bpy.utils.register_class(cls)
            registered.append(cls)
        properties.register()
    except Exception:
        for cls in reversed(registered):
            bpy.utils.unregister_class(cls)
        raise
    service.register()


def unregister():
    import bpy

    from . import properties, service

    service.unregister()
    if hasattr(bpy.types.Scene, "diffposetalk"):
        properties.unregister()
    for cls in reversed(_classes()):
        if getattr(cls, "is_registered", False):
            bpy.utils.unregister_class(cls)
