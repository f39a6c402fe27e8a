"""The add-on's bpy-free core: the backend client, strip timing and job state.

Nothing here imports bpy, so tests and tools use these modules in plain Python.
"""
