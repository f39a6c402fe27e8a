"""The head model in torch: differentiable vertices for training losses.

Same math as ``lbs.HeadModel.vertices_full`` (tests hold the two together), batched over
any leading dimensions and differentiable in expression, pose and shape.
"""
from __future__ import annotations

import torch
from torch import nn

from .lbs import HeadModel


def rodrigues(rotvec: torch.Tensor) -> torch.Tensor:
    """Axis-angle (N, 3) -> rotation matrices (N, 3, 3); smooth at zero angle."""
    angle = torch.sqrt((rotvec * rotvec).sum(-1, keepdim=True) + 1e-16)
    axis = rotvec / angle
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).view(-1, 3, 3)
    sin, cos = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device)
    return eye + sin * skew + (1 - cos) * (skew @ skew)


class HeadVertices(nn.Module):
    """Vertices of a ``HeadModel`` from motion coefficients, as a torch module (buffers only)."""

    def __init__(self, head: HeadModel, dtype=torch.float32):
        super().__init__()
        self.parents = tuple(head.parents)
        self.jaw = head.joint_names.index("jaw")
        as_tensor = lambda a: torch.as_tensor(a, dtype=dtype)  # noqa: E731
        self.register_buffer("template", as_tensor(head.template))
        self.register_buffer("shapedirs", as_tensor(head.shapedirs))
        self.register_buffer("expdirs", as_tensor(head.expdirs))
        self.register_buffer("posedirs", as_tensor(head.posedirs))
        self.register_buffer("joint_template", as_tensor(head.joint_template))
        self.register_buffer("joint_shapedirs", as_tensor(head.joint_shapedirs))
        self.register_buffer("joint_expdirs", as_tensor(head.joint_expdirs))
        self.register_buffer("weights", as_tensor(head.weights))

    def forward(self, exp: torch.Tensor, pose: torch.Tensor, shape: torch.Tensor | None = None) -> torch.Tensor:
        """exp (..., E), pose (..., 6) head then jaw axis-angle, shape (..., S) or None -> vertices (..., V, 3)."""
        full = torch.zeros(pose.shape[:-1] + (len(self.parents), 3), dtype=pose.dtype, device=pose.device)
        full[..., 0, :] = pose[..., :3]
        full[..., self.jaw, :] = pose[..., 3:6]
        return self.forward_full(exp, full.flatten(-2), shape)

    def forward_full(self, exp: torch.Tensor, full_pose: torch.Tensor, shape: torch.Tensor | None = None) -> torch.Tensor:
        """exp (..., E), per-joint rotations (..., J * 3), shape (..., S) or None -> vertices (..., V, 3)."""
        lead = exp.shape[:-1]
        exp = exp.reshape(-1, exp.shape[-1])
        n, e = exp.shape
        v_shaped = self.template + torch.einsum("vce,ne->nvc", self.expdirs[:, :, :e], exp)
        joints = self.joint_template + torch.einsum("jce,ne->njc", self.joint_expdirs[:, :, :e], exp)
        if shape is not None:
            shape = shape.reshape(-1, shape.shape[-1]).expand(n, -1)
            s = shape.shape[-1]
            v_shaped = v_shaped + torch.einsum("vcs,ns->nvc", self.shapedirs[:, :, :s], shape)
            joints = joints + torch.einsum("jcs,ns->njc", self.joint_shapedirs[:, :, :s], shape)
        n_joints = len(self.parents)
        rot = rodrigues(full_pose.reshape(-1, 3)).view(n, n_joints, 3, 3)
        if self.posedirs.shape[2]:
            eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
            feature = (rot[:, 1:] - eye).reshape(n, -1)
            v_shaped = v_shaped + torch.einsum("vcp,np->nvc", self.posedirs, feature)
        # World rotations and translations along the chain; each joint turns about itself.
        world_rot, world_pos = [], []
        for k, parent in enumerate(self.parents):
            if parent < 0:
                world_rot.append(rot[:, k])
                world_pos.append(joints[:, k])
            else:
                offset = (joints[:, k] - joints[:, parent])[..., None]
                world_rot.append(world_rot[parent] @ rot[:, k])
                world_pos.append(world_pos[parent] + (world_rot[parent] @ offset)[..., 0])
        world_rot = torch.stack(world_rot, 1)
        translation = torch.stack(world_pos, 1) - (world_rot @ joints[..., None])[..., 0]
        blend_rot = torch.einsum("vj,njab->nvab", self.weights, world_rot)
        blend_t = torch.einsum("vj,nja->nva", self.weights, translation)
        vertices = (blend_rot @ v_shaped[..., None])[..., 0] + blend_t
        return vertices.reshape(lead + vertices.shape[1:])
