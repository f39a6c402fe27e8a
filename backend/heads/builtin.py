"""The built-in head: our own procedural human head with the 52 ARKit shapes.

Built by ``scripts/build_builtin_head.py`` into ``data/builtin_head.npz``; this module only reads it.
Expression space "arkit": the 50 channels of ``ARKIT_CHANNELS`` are linear shapes; the
jaw opens with the jaw bone, so the jawOpen and tongueOut shapes ride along as extra
shapes that rigs carry and the model leaves at zero. Teeth, tongue and mouth cavity
are also stored as meshes of their own (``load_mouth_parts``), which rigs show instead of
the head's own inner mouth (``without_inner_mouth``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..expression_spaces import ARKIT_CHANNELS
from .lbs import HeadModel

DATA = Path(__file__).with_name("data") / "builtin_head.npz"


def load_builtin(path=DATA) -> HeadModel:
    with np.load(path) as data:
        template = data["template"].astype(np.float64)
        n = len(template)
        names = [str(name) for name in data["shape_names"]]
        shapes = np.zeros((len(names), n, 3))
        starts = np.concatenate([[0], np.cumsum(data["shape_counts"])])
        indices, offsets = data["shape_indices"], data["shape_offsets"].astype(np.float64)
        for k in range(len(names)):
            span = slice(starts[k], starts[k + 1])
            shapes[k, indices[span]] = offsets[span]
        weights = np.zeros((n, len(data["joint_names"])))
        rows, cols = data["weight_index"].T
        weights[rows, cols] = data["weight_value"]
        joints = data["joints"].astype(np.float64)
        by_name = dict(zip(names, shapes))
        expdirs = np.stack([by_name[name] for name in ARKIT_CHANNELS], axis=-1)
        n_joints = len(joints)
        return HeadModel(
            name="builtin",
            expression_space="arkit",
            template=template,
            faces=data["faces"].astype(np.int64),
            shapedirs=np.zeros((n, 3, 0)),
            expdirs=expdirs,
            posedirs=np.zeros((n, 3, 0)),
            joint_template=joints,
            joint_shapedirs=np.zeros((n_joints, 3, 0)),
            joint_expdirs=np.zeros((n_joints, 3, len(ARKIT_CHANNELS))),
            parents=(-1, 0, 1, 1, 1),
            weights=weights,
            landmarks=json.loads(str(data["landmarks"])),
            expression_names=ARKIT_CHANNELS,
            extra_shapes={name: by_name[name] for name in names if name not in ARKIT_CHANNELS},
            joint_names=tuple(str(name) for name in data["joint_names"]),
            face_parts=data["face_parts"].astype(np.int64),
            part_names=tuple(str(name) for name in data["part_names"]),
        )


# The head's own inner mouth: a closed bag right behind the lips that hides its teeth. Its
# vertices stay in the head (the model's losses and checkpoints index the head's vertices);
# rigs show the mouth parts below instead.
INNER_MOUTH_PARTS = ("mouth", "tongue", "teeth")


@dataclass(frozen=True)
class MouthPart:
    """A mesh of the mouth that rigs build as an object of its own, in the head's frame.

    ``material`` is one of the head's part names; ``jaw_weights`` (N,) is how much each
    vertex follows the jaw bone (the rest follows the neck, like the head); ``shapes`` are
    offsets (N, 3) by shape-key name, for the head's own keys of that name to drive.
    """

    name: str
    material: str
    vertices: np.ndarray
    faces: np.ndarray
    jaw_weights: np.ndarray
    shapes: dict


def load_mouth_parts(path=DATA) -> list:
    """Upper and lower teeth, tongue and mouth cavity, built by ``scripts/build_builtin_head.py``."""
    with np.load(path) as data:
        vertex_ends = np.cumsum(data["mouth_vertex_counts"])
        face_ends = np.cumsum(data["mouth_face_counts"])
        shape_names = [str(name) for name in data["mouth_shape_names"]]
        parts = []
        for k, name in enumerate(data["mouth_part_names"]):
            vertices = slice(vertex_ends[k] - data["mouth_vertex_counts"][k], vertex_ends[k])
            faces = slice(face_ends[k] - data["mouth_face_counts"][k], face_ends[k])
            shapes = {shape: data["mouth_shapes"][s, vertices].astype(np.float64) for s, shape in enumerate(shape_names)}
            parts.append(MouthPart(
                name=str(name), material=str(data["mouth_part_materials"][k]),
                vertices=data["mouth_vertices"][vertices].astype(np.float64),
                faces=data["mouth_faces"][faces].astype(np.int64),
                jaw_weights=data["mouth_jaw_weights"][vertices].astype(np.float64),
                shapes={shape: offsets for shape, offsets in shapes.items() if np.abs(offsets).max() > 0},
            ))
    return parts


def without_inner_mouth(head: HeadModel) -> HeadModel:
    """``head`` without the faces of its own inner mouth; every vertex stays, in its place."""
    inner = [head.part_names.index(part) for part in INNER_MOUTH_PARTS]
    keep = ~np.isin(head.face_parts, inner)
    return replace(head, faces=head.faces[keep], face_parts=head.face_parts[keep])
