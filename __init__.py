"""DiffPoseTalk Lip Sync: the Blender extension's entry point.

Thin on purpose: Blender calls ``register``/``unregister``; everything else lives in
``addon/`` (which imports bpy) and ``backend/`` (the torch service, run as a subprocess).
Importing this module imports nothing from Blender, so tests can import the package.
"""


def register():
    from .addon import register as register_addon

    register_addon()


def unregister():
    from .addon import unregister as unregister_addon

    unregister_addon()
