"""Load a user's FLAME model file without chumpy or scipy.

FLAME 2020 (``generic_model.pkl``) is a Python 2 pickle whose ``shapedirs`` is a chumpy
array and whose ``J_regressor`` is a scipy sparse matrix; FLAME 2023 Open
(``flame2023_Open.pkl``) has the same keys with plain arrays. The unpickler below allows
only numpy's array machinery and maps chumpy and scipy.sparse classes to small stand-ins
that keep the arrays, so neither package is needed (Blender's Python has neither) and no
other code in the file can run.

The FLAME files are licensed by their authors; users download them. Nothing of FLAME
ships with this project.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from .lbs import JOINT_NAMES, HeadModel

FLAME_EXPRESSION_DIM = 100
REQUIRED_KEYS = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights")


class FlameFileError(ValueError):
    pass


class _ChumpyArray:
    """Stands in for a pickled chumpy ``Ch``: its state holds the value as ``x``."""

    def __setstate__(self, state):
        self.__dict__.update(state if isinstance(state, dict) else {"x": state})

    def __array__(self, dtype=None, copy=None):
        if "x" not in self.__dict__:
            raise FlameFileError(
                "a chumpy object in the FLAME file holds no array; re-save the model with "
                "plain numpy arrays or use the official generic_model.pkl / flame2023_Open.pkl"
            )
        return np.asarray(self.__dict__["x"], dtype=dtype)


class _SparseMatrix:
    """Stands in for a pickled scipy.sparse csc/csr matrix (state: data, indices, indptr, _shape)."""

    format = "csc"

    def __setstate__(self, state):
        self.__dict__.update(state)

    def toarray(self) -> np.ndarray:
        state = self.__dict__
        shape = tuple(state.get("_shape") or state.get("shape"))
        data, indices, indptr = (np.asarray(state[k]) for k in ("data", "indices", "indptr"))
        dense = np.zeros(shape, dtype=np.float64)
        # csc: indptr runs over columns; csr: over rows.
        column_major = self.format == "csc"
        for outer in range(len(indptr) - 1):
            span = slice(indptr[outer], indptr[outer + 1])
            if column_major:
                dense[indices[span], outer] = data[span]
            else:
                dense[outer, indices[span]] = data[span]
        return dense


_SPARSE = {fmt: type(f"_{fmt}_matrix", (_SparseMatrix,), {"format": fmt}) for fmt in ("csc", "csr")}
_NUMPY_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"), ("__builtin__", "object"),
    ("builtins", "object"),
}


class _FlameUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _NUMPY_ALLOWED:
            return super().find_class(module, name)
        if module.split(".")[0] == "chumpy":
            return _ChumpyArray
        if module.startswith("scipy.sparse") and name in ("csc_matrix", "csr_matrix"):
            return _SPARSE[name[:3]]
        raise FlameFileError(
            f"the FLAME file refers to {module}.{name}, which a FLAME model never needs; "
            "is this really generic_model.pkl (FLAME 2020) or flame2023_Open.pkl?"
        )


def _array(value) -> np.ndarray:
    if isinstance(value, _SparseMatrix):
        return value.toarray()
    return np.asarray(value)


def read_flame_file(path) -> dict:
    """The FLAME pickle at ``path`` as a dict of numpy arrays (only the keys FLAME needs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FLAME model file {path} not found; download it from the FLAME website")
    with open(path, "rb") as handle:
        try:
            raw = _FlameUnpickler(handle, encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError) as error:
            raise FlameFileError(f"{path} is not a readable FLAME pickle ({error})") from error
    if not isinstance(raw, dict) or any(key not in raw for key in REQUIRED_KEYS):
        missing = [key for key in REQUIRED_KEYS if not isinstance(raw, dict) or key not in raw]
        raise FlameFileError(f"{path} lacks the FLAME keys {missing}")
    return {key: _array(raw[key]) for key in REQUIRED_KEYS}


def flame_landmarks(template: np.ndarray, weights: np.ndarray, jaw: int) -> dict:
    """Lip landmarks found from the geometry: the jaw-skinned lower lip meets the upper lip.

    FLAME publishes no named vertex list, so these come from the midline of the mouth's
    front: the lowest mostly-unskinned-by-jaw vertex and the highest mostly-jaw vertex.
    """
    x, y, z = template.T
    jaw_weight = weights[:, jaw]
    front = z > z.max() - 0.045
    midline = front & (np.abs(x) < 0.004)
    lower_face = y < y[np.argmax(np.where(front, z, -np.inf))]  # below the nose tip
    upper = np.flatnonzero(midline & lower_face & (jaw_weight < 0.5))
    lower = np.flatnonzero(midline & lower_face & (jaw_weight >= 0.5))
    if not len(upper) or not len(lower):
        return {}
    upper_lip = int(upper[np.argmin(y[upper])])
    lower_lip = int(lower[np.argmax(y[lower])])
    # Corners: the widest half-jaw-skinned vertices on the lip line that stay near the lips' depth.
    near = (np.abs(y - 0.5 * (y[upper_lip] + y[lower_lip])) < 0.008) & (z > z[upper_lip] - 0.025)
    band = near & (jaw_weight > 0.05) & (jaw_weight < 0.95)
    band = np.flatnonzero(band)
    marks = {"upper_lip_inner": upper_lip, "lower_lip_inner": lower_lip}
    if len(band):
        marks["mouth_corner_left"] = int(band[np.argmax(x[band])])
        marks["mouth_corner_right"] = int(band[np.argmin(x[band])])
    return marks


def load_flame(path, n_shape: int = 300, n_exp: int = FLAME_EXPRESSION_DIM) -> HeadModel:
    """A FLAME file as a ``HeadModel`` (expression space "flame")."""
    data = read_flame_file(path)
    template = data["v_template"].astype(np.float64)
    shapedirs = data["shapedirs"].astype(np.float64)
    total = shapedirs.shape[2]
    if total <= FLAME_EXPRESSION_DIM:
        raise FlameFileError(f"{path}: shapedirs has {total} components; FLAME has shape + 100 expression")
    n_identity = total - FLAME_EXPRESSION_DIM
    identity_dirs = shapedirs[:, :, : min(n_shape, n_identity)]
    expdirs = shapedirs[:, :, n_identity: n_identity + n_exp]
    regressor = data["J_regressor"].astype(np.float64)
    parents = tuple(int(p) for p in data["kintree_table"][0].astype(np.int64))
    parents = tuple(-1 if p < 0 or p >= len(parents) else p for p in parents)
    if len(parents) != len(JOINT_NAMES):
        raise FlameFileError(f"{path}: {len(parents)} joints; FLAME has {len(JOINT_NAMES)}")
    weights = data["weights"].astype(np.float64)
    posedirs = data["posedirs"].astype(np.float64)
    return HeadModel(
        name=Path(path).stem,
        expression_space="flame",
        template=template,
        faces=data["f"].astype(np.int64),
        shapedirs=identity_dirs,
        expdirs=expdirs,
        posedirs=posedirs,
        joint_template=regressor @ template,
        joint_shapedirs=np.einsum("jv,vcs->jcs", regressor, identity_dirs),
        joint_expdirs=np.einsum("jv,vce->jce", regressor, expdirs),
        parents=parents,
        weights=weights,
        landmarks=flame_landmarks(template, weights, JOINT_NAMES.index("jaw")),
        expression_names=tuple(f"Exp{i + 1}" for i in range(expdirs.shape[2])),
    )
