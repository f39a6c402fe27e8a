"""A small synthetic file in FLAME's model-file format, for tests (FLAME itself is never shipped).

``write_flame_file(path, variant)`` writes what the real files hold, at toy size:
"2020" mimics ``generic_model.pkl`` (a protocol-2 pickle whose ``shapedirs`` is a chumpy
``Ch`` object and whose ``J_regressor`` names Python-2-era ``scipy.sparse.csc``), "2023"
mimics ``flame2023_Open.pkl`` (plain arrays, newer pickle). Neither chumpy nor the old
scipy module needs to exist: the class references are written as bytes.
"""
from __future__ import annotations

import pickle

import numpy as np

N_SHAPE, N_EXP = 300, 100
JOINT_TARGETS = np.array([[0.0, -0.04, -0.02], [0.0, -0.03, -0.02], [0.0, -0.015, 0.0], [0.03, 0.03, 0.05], [-0.03, 0.03, 0.05]])


class ChumpyLike:
    """Pickles like a chumpy ``Ch``: a plain object whose state holds the array as ``x``."""

    def __init__(self, x):
        self.x = x
        self._cache = {}
        self._parents = {}


def toy_head(seed=0, n_lon=16, n_lat=12):
    """A UV-sphere 'head' with FLAME's arrays: template, faces, blendshapes, skinning."""
    import scipy.sparse   # here, so Blender-only test environments can import this module

    rng = np.random.default_rng(seed)
    lat = np.linspace(-np.pi / 2, np.pi / 2, n_lat + 2)[1:-1]
    lon = np.linspace(-np.pi, np.pi, n_lon, endpoint=False)
    L, O = np.meshgrid(lat, lon, indexing="ij")
    verts = np.stack([0.075 * np.cos(L) * np.sin(O), 0.11 * np.sin(L), 0.09 * np.cos(L) * np.cos(O)], -1).reshape(-1, 3)
    faces = []
    for i in range(n_lat - 1):
        for j in range(n_lon):
            a, b = i * n_lon + j, i * n_lon + (j + 1) % n_lon
            faces += [[a, a + n_lon, b + n_lon], [a, b + n_lon, b]]
    n = len(verts)
    x, y, z = verts.T
    # Jaw: the lower front; eyes: two small patches; the rest to the neck and root.
    jaw = np.clip((-0.01 - y) / 0.03, 0, 1) * np.clip(z / 0.04, 0, 1)
    eyes = [np.exp(-np.sum((verts - JOINT_TARGETS[k]) ** 2, 1) / 0.02 ** 2) * 0.8 for k in (3, 4)]
    root = 0.3 * np.clip(-y / 0.11, 0, 1)
    weights = np.stack([root, np.ones(n), jaw * 2, *eyes], 1)
    weights /= weights.sum(1, keepdims=True)
    # Smooth random blendshapes (low-frequency in position) and pose correctives.
    basis = np.stack([np.ones(n), x, y, z, x * y, y * z, z * x, x * x, y * y], 1) * [1, 10, 10, 10, 100, 100, 100, 100, 100]
    shapedirs = np.einsum("vb,bck->vck", basis, rng.normal(0, 1e-3, (basis.shape[1], 3, N_SHAPE + N_EXP)))
    shapedirs *= np.concatenate([1 / (1 + np.arange(N_SHAPE) / 10), 1 / (1 + np.arange(N_EXP) / 10)])
    posedirs = np.einsum("vb,bck->vck", basis, rng.normal(0, 2e-3, (basis.shape[1], 3, 36)))
    regressor = np.zeros((5, n))
    for k, target in enumerate(JOINT_TARGETS):
        nearest = np.argsort(np.linalg.norm(verts - target, axis=1))[:6]
        regressor[k, nearest] = 1 / 6
    return {
        "v_template": verts, "f": np.array(faces, np.uint32), "shapedirs": shapedirs, "posedirs": posedirs,
        "J_regressor": scipy.sparse.csc_matrix(regressor), "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], np.int64),
        "weights": weights, "J": regressor @ verts, "bs_style": "lbs", "bs_type": "lrotmin",
    }


def write_flame_file(path, variant="2020", seed=0) -> dict:
    """Write the toy head in the ``variant`` file format; returns its plain arrays."""
    data = toy_head(seed)
    if variant == "2020":
        stored = dict(data, shapedirs=ChumpyLike(data["shapedirs"]))
        raw = pickle.dumps(stored, protocol=2)
        ours = f"c{ChumpyLike.__module__}\nChumpyLike\n".encode()
        assert ours in raw
        raw = raw.replace(ours, b"cchumpy.ch\nCh\n")
        modern = f"c{type(data['J_regressor']).__module__}\ncsc_matrix\n".encode()
        assert modern in raw
        raw = raw.replace(modern, b"cscipy.sparse.csc\ncsc_matrix\n")
    elif variant == "2023":
        raw = pickle.dumps(data, protocol=4)
    else:
        raise ValueError(variant)
    with open(path, "wb") as handle:
        handle.write(raw)
    return {**data, "J_regressor": data["J_regressor"].toarray()}
