"""Training losses: NT-Xent for the style encoder and the denoiser's weighted terms.

Symbols: N samples, W windows per sample (2), L frames per window, D motion vector size
(54 with head pose, 51 without), V vertices. Motion vectors are normalized model vectors
(``backend.model.stats``); the vertex and head terms decode them to metres and radians.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..model.stats import EPS


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Normalized temperature-scaled cross entropy (Chen et al. 2020, SimCLR eq. 1).

    z1, z2 (N, C): two views of N clips; (z1[i], z2[i]) are positives and the other
    2N - 2 embeddings of the batch are negatives. Returns the mean loss over 2N anchors.
    """
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = (z @ z.T) / temperature
    self_pairs = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_pairs, float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, targets)


@dataclass
class LossWeights:
    """The reference weights. Vertex terms are in metres (squared), head terms in radians."""

    x0: float = 1.0
    vertex: float = 2e6
    vertex_velocity: float = 1e7
    smooth: float = 1e5  # acceleration of the predicted vertices
    head_angle: float = 0.05
    head_velocity: float = 5.0
    head_smooth: float = 0.5
    head_continuity: float = 0.5  # head velocity across the seam between windows

    def as_dict(self) -> dict:
        return asdict(self)


class MotionDecoder(nn.Module):
    """Normalized model vector (..., D) -> raw ``exp`` (..., 50) and ``pose`` (..., 6).

    Torch twin of ``backend.model.stats.vector_to_motion``: jaw y and z decode to the
    dataset mean, and a model without head pose gets zero head rotation.
    """

    def __init__(self, stats: dict, head_pose: bool):
        super().__init__()
        self.head_pose = head_pose
        for key in ("exp_mean", "exp_std", "pose_mean", "pose_std", "shape_mean", "shape_std"):
            self.register_buffer(key, torch.as_tensor(stats[key], dtype=torch.float32))

    def shape(self, shape_n: torch.Tensor) -> torch.Tensor:
        """Normalized identity (..., 100) -> raw coefficients."""
        return shape_n * (self.shape_std + EPS) + self.shape_mean

    def forward(self, vec: torch.Tensor):
        exp = vec[..., :50] * (self.exp_std + EPS) + self.exp_mean
        pose_n = vec.new_zeros(vec.shape[:-1] + (6,))
        if self.head_pose:
            pose_n[..., :4] = vec[..., 50:54]
        else:
            pose_n[..., 3] = vec[..., 50]
        pose = pose_n * (self.pose_std + EPS) + self.pose_mean
        if not self.head_pose:
            pose = torch.cat([torch.zeros_like(pose[..., :3]), pose[..., 3:]], dim=-1)
        return exp, pose


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """values (N, W, L, ...) squared errors, mask (N, W, L) -> mean over the real frames."""
    per_frame = values.reshape(values.shape[:3] + (-1,)).mean(-1)
    return (per_frame * mask).sum() / mask.sum().clamp(min=1.0)


def _velocity_mask(mask: torch.Tensor) -> torch.Tensor:
    return mask[:, :, 1:] * mask[:, :, :-1]


def _acceleration_mask(mask: torch.Tensor) -> torch.Tensor:
    return mask[:, :, 2:] * mask[:, :, 1:-1] * mask[:, :, :-2]


class DenoiserLoss(nn.Module):
    """The weighted sum of DiffPoseTalk's denoiser losses over all windows of a sample.

    ``head_vertices``: a ``backend.heads.torch_lbs.HeadVertices`` (or None to skip the
    vertex terms, e.g. a FLAME model without its FLAME file). Vertex terms use the
    predicted expression and jaw with the head rotation zeroed, so that head motion does
    not swamp lip errors; the head terms see the head rotation directly.
    """

    def __init__(self, stats: dict, head_pose: bool, head_vertices: nn.Module | None = None,
                 weights: LossWeights | None = None):
        super().__init__()
        self.decoder = MotionDecoder(stats, head_pose)
        self.head_vertices = head_vertices
        self.weights = weights or LossWeights()
        self.head_pose = head_pose

    @property
    def uses_shape(self) -> bool:
        return self.head_vertices is not None and self.head_vertices.shapedirs.shape[2] > 0

    def vertices(self, vec: torch.Tensor, shape: torch.Tensor | None) -> torch.Tensor:
        """vec (N, W, L, D), shape (N, S) raw or None -> vertices (N, W, L, V, 3), head still."""
        exp, pose = self.decoder(vec)
        pose = torch.cat([torch.zeros_like(pose[..., :3]), pose[..., 3:]], dim=-1)
        if shape is not None:
            shape = shape[:, None, None, :].expand(vec.shape[:3] + shape.shape[-1:]).reshape(-1, shape.shape[-1])
        return self.head_vertices(exp, pose, shape)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                shape: torch.Tensor | None = None):
        """pred, target (N, W, L, D) normalized; mask (N, W, L) 1 for real frames; shape
        (N, S) raw identity coefficients or None. Returns (total, {term: value})."""
        w = self.weights
        terms = {"x0": _masked_mean((pred - target) ** 2, mask)}
        if self.head_vertices is not None:
            v_pred, v_true = self.vertices(pred, shape), self.vertices(target, shape)
            terms["vertex"] = _masked_mean((v_pred - v_true) ** 2, mask)
            vel_pred, vel_true = v_pred.diff(dim=2), v_true.diff(dim=2)
            terms["vertex_velocity"] = _masked_mean((vel_pred - vel_true) ** 2, _velocity_mask(mask))
            terms["smooth"] = _masked_mean(vel_pred.diff(dim=2) ** 2, _acceleration_mask(mask))
        if self.head_pose:
            head_pred, head_true = self.decoder(pred)[1][..., :3], self.decoder(target)[1][..., :3]
            terms["head_angle"] = _masked_mean((head_pred - head_true) ** 2, mask)
            hv_pred, hv_true = head_pred.diff(dim=2), head_true.diff(dim=2)
            terms["head_velocity"] = _masked_mean((hv_pred - hv_true) ** 2, _velocity_mask(mask))
            terms["head_smooth"] = _masked_mean(hv_pred.diff(dim=2) ** 2, _acceleration_mask(mask))
            if pred.shape[1] > 1:
                # The step from one window's last frame to the next window's first.
                seam_pred = head_pred[:, 1:, 0] - head_pred[:, :-1, -1]  # (N, W - 1, 3)
                seam_true = head_true[:, 1:, 0] - head_true[:, :-1, -1]
                seam_mask = mask[:, 1:, 0] * mask[:, :-1, -1]  # (N, W - 1)
                err = ((seam_pred - seam_true) ** 2).mean(-1)
                terms["head_continuity"] = (err * seam_mask).sum() / seam_mask.sum().clamp(min=1.0)
        total = sum(getattr(w, name) * value for name, value in terms.items())
        return total, terms
