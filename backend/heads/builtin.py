"""The built-in head: our own procedural human head with the 52 ARKit shapes.

Built by ``scripts/build_builtin_head.py`` into ``data/builtin_head.npz``; this module only reads it.
Expression space "arkit": the 50 channels of ``ARKIT_CHANNELS`` are linear shapes; the
jaw opens with the jaw bone, so the jawOpen and tongueOut shapes ride along as extra
shapes that rigs carry and the model leaves at zero.
"""
from __future__ import annotations

import json
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
