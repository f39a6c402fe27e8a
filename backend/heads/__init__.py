"""Heads: the built-in ARKit head and users' FLAME files, with one vertex API.

``load_head("builtin")`` or ``load_head(path_to_flame_pkl)`` returns a ``HeadModel``:
``vertices(motion) -> (T, V, 3)`` in metres (FLAME frame), ``faces``, ``landmarks``
(name -> vertex index), ``expression_space``, and ``torch_module()`` for training losses.
Numpy only at import time (Blender's Python builds rigs from these modules); torch is
imported by ``torch_module()``.
"""
from __future__ import annotations

from pathlib import Path

from .lbs import JOINT_NAMES, HeadModel

BUILTIN = "builtin"

__all__ = ["BUILTIN", "JOINT_NAMES", "HeadModel", "load_head"]


def load_head(source=BUILTIN) -> HeadModel:
    """The built-in head for "builtin", else the FLAME model file at ``source``."""
    if str(source) == BUILTIN:
        from .builtin import load_builtin

        return load_builtin()
    from .flame import load_flame

    return load_flame(Path(source))
