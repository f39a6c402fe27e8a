"""Linear blend skinning with blendshapes and pose correctives, in numpy.

One model serves FLAME heads and the built-in head (see ``HeadModel``):

    v_shaped = template + shapedirs . shape + expdirs . exp
    joints   = joint_template + joint_shapedirs . shape + joint_expdirs . exp
    v_posed  = v_shaped + posedirs . (R_k - I).ravel() for k = 1..J-1
    v        = sum_k weights[:, k] * A_k(v_posed)

with A_k the rest-to-posed transform of joint k along the kinematic chain (each joint
rotates about its own position, relative to its parent). FLAME regresses the joints from
the shaped vertices, expression included; ``joint_*dirs`` hold that regression applied to
the blendshapes, so joint positions are linear in the coefficients and no sparse matrix is
needed at evaluation time. Numpy only: Blender's Python loads heads through this module.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..rotations import rodrigues

JOINT_NAMES = ("root", "neck", "jaw", "left_eye", "right_eye")
SKIN_PARTS = ("skin", "lips")


@dataclass
class HeadModel:
    """A skinned head: arrays in metres, FLAME's frame (Y up, face toward +Z).

    Shapes: template (V, 3); faces (F, 3); shapedirs (V, 3, S); expdirs (V, 3, E);
    posedirs (V, 3, P) with P = 9 * (J - 1) or 0; joint_template (J, 3); joint_shapedirs
    (J, 3, S); joint_expdirs (J, 3, E); parents (J,) with -1 for the root; weights (V, J).
    ``extra_shapes`` are shape keys a rig carries that the model never drives (the built-in
    head's jawOpen and tongueOut), name -> (V, 3) offsets.
    """

    name: str
    expression_space: str
    template: np.ndarray
    faces: np.ndarray
    shapedirs: np.ndarray
    expdirs: np.ndarray
    posedirs: np.ndarray
    joint_template: np.ndarray
    joint_shapedirs: np.ndarray
    joint_expdirs: np.ndarray
    parents: tuple
    weights: np.ndarray
    landmarks: dict = field(default_factory=dict)
    expression_names: tuple = ()
    extra_shapes: dict = field(default_factory=dict)
    joint_names: tuple = JOINT_NAMES
    face_parts: np.ndarray | None = None  # (F,) index into part_names, for materials
    part_names: tuple = ()

    @property
    def n_vertices(self) -> int:
        return self.template.shape[0]

    @property
    def n_shape(self) -> int:
        return self.shapedirs.shape[2]

    @property
    def n_exp(self) -> int:
        return self.expdirs.shape[2]

    def skin_vertices(self) -> np.ndarray:
        """Indices of the vertices on the skin (lips included): not eyes, mouth cavity or teeth."""
        if self.face_parts is None:
            return np.arange(self.n_vertices)
        skin = [self.part_names.index(p) for p in SKIN_PARTS if p in self.part_names]
        return np.unique(self.faces[np.isin(self.face_parts, skin)])

    def torch_module(self, dtype=None):
        """This head as a differentiable ``torch.nn.Module`` (see ``torch_lbs.HeadVertices``)."""
        from .torch_lbs import HeadVertices

        return HeadVertices(self) if dtype is None else HeadVertices(self, dtype=dtype)

    def full_pose(self, pose: np.ndarray) -> np.ndarray:
        """Motion pose (T, 6) = head rotation, jaw rotation -> per-joint rotations (T, J * 3).

        The head rotation goes to the root joint (as DiffPoseTalk writes it) and the jaw
        rotation to the jaw; neck and eyes stay at rest.
        """
        pose = np.asarray(pose, dtype=np.float64)
        full = np.zeros(pose.shape[:-1] + (len(self.parents), 3))
        full[..., 0, :] = pose[..., :3]
        full[..., self.joint_names.index("jaw"), :] = pose[..., 3:6]
        return full.reshape(pose.shape[:-1] + (-1,))

    def coefficients(self, exp: np.ndarray, shape=None):
        """Pad or check (T, e) expression and optional (s,) shape against the model's sizes."""
        exp = np.asarray(exp, dtype=np.float64)
        if exp.shape[-1] > self.n_exp:
            raise ValueError(f"{exp.shape[-1]} expression values given but the head {self.name!r} has {self.n_exp}")
        if shape is None:
            shape = np.zeros(0)
        shape = np.asarray(shape, dtype=np.float64).reshape(-1)
        if shape.size > self.n_shape and np.any(shape[self.n_shape:]):
            raise ValueError(f"{shape.size} shape values given but the head {self.name!r} has {self.n_shape}")
        return exp, shape[: self.n_shape]

    def vertices(self, motion: dict) -> np.ndarray:
        """Motion dict (``exp`` (T, E<=n_exp), ``pose`` (T, 6), optional ``shape``) -> (T, V, 3) float32."""
        exp, shape = self.coefficients(motion["exp"], motion.get("shape"))
        return self.vertices_full(exp, self.full_pose(motion["pose"]), shape).astype(np.float32)

    def shaped(self, shape=None):
        """Rest vertices (V, 3) and joints (J, 3) for an identity ``shape`` (s,), in float64."""
        _, shape = self.coefficients(np.zeros((1, 0)), shape)
        s = shape.size
        vertices = self.template + self.shapedirs[:, :, :s] @ shape
        joints = self.joint_template + self.joint_shapedirs[:, :, :s] @ shape
        return vertices, joints

    def vertices_full(self, exp: np.ndarray, full_pose: np.ndarray, shape=None) -> np.ndarray:
        """Expression (T, e), per-joint rotations (T, J * 3) and shape (s,) -> vertices (T, V, 3)."""
        exp, shape = self.coefficients(exp, shape)
        e = exp.shape[-1]
        rest, rest_joints = self.shaped(shape)
        v_shaped = rest[None] + np.einsum("vce,te->tvc", self.expdirs[:, :, :e], exp)
        joints = rest_joints[None] + np.einsum("jce,te->tjc", self.joint_expdirs[:, :, :e], exp)
        rot = rodrigues(np.asarray(full_pose, dtype=np.float64).reshape(len(exp), -1, 3))
        if self.posedirs.shape[2]:
            feature = (rot[:, 1:] - np.eye(3)).reshape(len(exp), -1)
            v_shaped = v_shaped + np.einsum("vcp,tp->tvc", self.posedirs, feature)
        transforms = skinning_transforms(rot, joints, self.parents)
        blended = np.einsum("vj,tjab->tvab", self.weights, transforms)
        return np.einsum("tvab,tvb->tva", blended[..., :3, :3], v_shaped) + blended[..., :3, 3]


def skinning_transforms(rot: np.ndarray, joints: np.ndarray, parents) -> np.ndarray:
    """Rest-to-posed 4x4 transforms (T, J, 4, 4) from local rotations (T, J, 3, 3) and joints (T, J, 3)."""
    n, n_joints = rot.shape[:2]
    world = np.zeros((n, n_joints, 4, 4))
    for k, parent in enumerate(parents):
        local = np.zeros((n, 4, 4))
        local[:, :3, :3] = rot[:, k]
        local[:, :3, 3] = joints[:, k] - (joints[:, parent] if parent >= 0 else 0.0)
        local[:, 3, 3] = 1.0
        world[:, k] = local if parent < 0 else world[:, parent] @ local
    # Each joint rotates about its rest position: A_k = G_k @ translate(-J_k).
    offset = np.einsum("tjab,tjb->tja", world[..., :3, :3], joints)
    world[..., :3, 3] -= offset
    return world
