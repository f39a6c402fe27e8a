"""Regions of a head and a head reduced to some of its vertices, for the measures that
need only part of the face: the evaluation's lip and upper-face metrics and the training's
vertex losses. Numpy only."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

LIP_RADIUS_M = 0.025  # lip region: skin within this distance of the mouth centre


def mouth_centre(head) -> np.ndarray:
    """The point between the inner lips of the template (metres)."""
    marks = head.landmarks
    if "upper_lip_inner" not in marks or "lower_lip_inner" not in marks:
        raise ValueError(f"head {head.name!r} has no inner-lip landmarks; lip metrics need them")
    return 0.5 * (head.template[marks["upper_lip_inner"]] + head.template[marks["lower_lip_inner"]])


def lip_region(head) -> np.ndarray:
    """Skin vertices within ``LIP_RADIUS_M`` of the mouth centre (between the inner lips)."""
    centre = mouth_centre(head)
    candidates = head.skin_vertices()
    return candidates[np.linalg.norm(head.template[candidates] - centre, axis=1) < LIP_RADIUS_M]


def subset_head(head, keep: np.ndarray):
    """``head`` with only the vertices ``keep`` (sorted indices); landmarks re-indexed, those
    not kept dropped. Skinning is per vertex, so the kept vertices move exactly as before."""
    where = {int(v): i for i, v in enumerate(keep)}
    return replace(
        head, template=head.template[keep], shapedirs=head.shapedirs[keep], expdirs=head.expdirs[keep],
        posedirs=head.posedirs[keep], weights=head.weights[keep], faces=np.zeros((0, 3), np.int64),
        landmarks={k: where[v] for k, v in head.landmarks.items() if v in where}, extra_shapes={},
        **({"face_parts": None} if hasattr(head, "face_parts") else {}),
    )
