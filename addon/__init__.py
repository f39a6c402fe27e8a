"""The Blender side: preferences, the Lip Sync panel and its operators.

Imports are lazy so that the bpy-free ``addon.core`` is importable without Blender.
Each module lists its classes in ``CLASSES``; they register in order and unregister in
reverse. Then the modules with something to install besides classes (properties on
Blender's types, handlers, the job handlers, the backend's exit hook) run their own
``register``. A failure part-way undoes everything done so far, so Blender is never left
with half an add-on. Unregistering stops the backend first.
"""


def _modules():
    from . import add_head, batch, export, generation, mapping_ops, panels, preferences, properties, reporting

    # batch after panels: its sub-panel registers after the panel it belongs to
    return (properties, reporting, preferences, generation, add_head, mapping_ops, export, panels, batch)


def _classes():
    return [cls for module in _modules() for cls in module.CLASSES]


def _hooked():
    """Modules with a ``register``/``unregister`` of their own, in registration order."""
    from . import batch, generation, properties, rigs, service

    return (properties, rigs, generation, batch, service)


def register():
    import bpy

    undo = []
    try:
        for cls in _classes():
            bpy.utils.register_class(cls)
            undo.append(lambda cls=cls: bpy.utils.unregister_class(cls))
        for module in _hooked():
            module.register()
            undo.append(module.unregister)
    except Exception:
        for step in reversed(undo):
            step()
        raise


def unregister():
    import bpy

    for module in reversed(_hooked()):  # the service first: it stops the backend
        module.unregister()
    for cls in reversed(_classes()):
        if getattr(cls, "is_registered", False):
            bpy.utils.unregister_class(cls)
