"""The diffusion noise schedule: tables only, no sampling algorithm.

Cosine schedule (Nichol & Dhariwal 2021, eq. 17): alpha_bar(t) = f(t) / f(0) with
f(t) = cos(((t / T) + s) / (1 + s) * pi / 2)^2, s = 0.008. Betas are derived from
consecutive ratios, clipped to [1e-4, 0.999], and beta_0 = 0 is prepended so that every
table is indexed directly by t = 0..T (length T + 1); alpha_bar[0] = 1 is the clean sample.
"""
from __future__ import annotations

import math

import torch


class CosineSchedule:
    def __init__(self, n_steps: int = 500, s: float = 0.008):
        self.n_steps = n_steps
        t = torch.arange(n_steps + 1, dtype=torch.float64)
        f = torch.cos((t / n_steps + s) / (1 + s) * math.pi / 2) ** 2
        f = f / f[0]
        betas = torch.clamp(1 - f[1:] / f[:-1], 1e-4, 0.999)
        self.betas = torch.cat([torch.zeros(1, dtype=torch.float64), betas])  # (T + 1,)
        self.alphas = 1 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])
        # Posterior q(x_{t-1} | x_t, x_0) variance (Ho et al. 2020, eq. 7); 0 at t = 0.
        self.posterior_variance = torch.zeros_like(self.betas)
        self.posterior_variance[1:] = (1 - prev[1:]) / (1 - self.alphas_cumprod[1:]) * self.betas[1:]

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """q(x_t | x_0) (Ho et al. 2020, eq. 4): x0, noise (N, ...), t (N,) long."""
        abar = self.alphas_cumprod.to(x0.device)[t].to(x0.dtype).view(-1, *([1] * (x0.ndim - 1)))
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def reference_buffers(self) -> dict:
        """The tables as the released checkpoints store them (``diffusion_sched.*``), float32."""
        return {
            "betas": self.betas.float(),
            "alphas": self.alphas.float(),
            "alpha_bars": self.alphas_cumprod.float(),
            "sigmas_flex": self.betas.sqrt().float(),
            "sigmas_inflex": self.posterior_variance.sqrt().float(),
        }
