"""Samplers for an x0-predicting network, diffusers-style: ``set_timesteps(n)`` then
``step(x0_pred, t, sample, generator)`` -> ``StepOutput``. A sampler holds only its own
algorithm's state; the schedule holds the tables and the pipeline owns the loop. Each
sampler class says how many steps it runs for a request (``steps_for``), which is all
``sampling.resolve_sampling`` needs to know about it.

- ``ddpm``: the reference ancestral sampler, all T steps, posterior variance, no noise at t = 1.
- ``ddim``: deterministic DDIM (eta = 0) over any number of steps.
- ``dpmpp-2m``: DPM-Solver++(2M), deterministic second-order multistep, any number of steps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from .errors import SamplingError
from .schedule import CosineSchedule


@dataclass
class StepOutput:
    prev_sample: torch.Tensor  # x_{t_prev}
    pred_original_sample: torch.Tensor  # the x0 the step used


def _spaced_timesteps(n_train: int, n: int) -> list:
    """n decreasing steps from T that end at T / n ("trailing" spacing): the first step
    always starts from pure noise, like the training distribution at t = T."""
    if not 1 <= n <= n_train:
        raise ValueError(f"steps must be between 1 and {n_train}, got {n}")
    return sorted({max(1, round(n_train - i * n_train / n)) for i in range(n)}, reverse=True)


class DDPMSampler:
    name = "ddpm"

    def __init__(self, schedule: CosineSchedule):
        self.schedule = schedule
        self.timesteps = []

    @staticmethod
    def steps_for(requested: Optional[int], default: int, n_train: int) -> int:
        """Always all ``n_train`` steps of the schedule: another number is refused."""
        if requested not in (None, n_train):
            raise SamplingError("steps", f"the ddpm sampler runs all {n_train} steps of this model; leave steps "
                                "out, or use ddim or dpmpp-2m for fewer", limit=n_train)
        return n_train

    def set_timesteps(self, n: Optional[int] = None):
        self.timesteps = list(range(self.steps_for(n, self.schedule.n_steps, self.schedule.n_steps), 0, -1))

    def step(self, x0_pred, t: int, sample, generator: Optional[torch.Generator] = None) -> StepOutput:
        s = self.schedule
        alpha, abar, abar_prev = float(s.alphas[t]), float(s.alphas_cumprod[t]), float(s.alphas_cumprod[t - 1])
        # Posterior mean from x0 and x_t (Ho et al. 2020, eq. 7).
        c0 = (1 - abar_prev) * math.sqrt(alpha) / (1 - abar)
        c1 = (1 - alpha) * math.sqrt(abar_prev) / (1 - abar)
        prev = c0 * sample + c1 * x0_pred
        if t > 1:
            noise = torch.randn(sample.shape, generator=generator, device=sample.device, dtype=sample.dtype)
            prev = prev + math.sqrt(float(s.posterior_variance[t])) * noise
        return StepOutput(prev, x0_pred)


class _SkippingSampler:
    """Shared set-up of the samplers that run a chosen number of steps."""

    def __init__(self, schedule: CosineSchedule):
        self.schedule = schedule
        self.timesteps = []

    @staticmethod
    def steps_for(requested: Optional[int], default: int, n_train: int) -> int:
        """The requested number of steps (else ``default``), at most the schedule's ``n_train``."""
        steps = default if requested is None else requested
        if steps < 1:
            raise SamplingError("steps", f"steps must be at least 1, got {steps}")
        if steps > n_train:
            raise SamplingError("steps", f"this model has {n_train} diffusion steps, so steps can be at most "
                                f"{n_train}, got {steps}", limit=n_train)
        return steps

    def set_timesteps(self, n: int):
        self.timesteps = _spaced_timesteps(self.schedule.n_steps, n)
        self._next = dict(zip(self.timesteps, self.timesteps[1:] + [0]))
        self._last = None


class DDIMSampler(_SkippingSampler):
    name = "ddim"

    def step(self, x0_pred, t: int, sample, generator=None) -> StepOutput:
        abar, abar_prev = float(self.schedule.alphas_cumprod[t]), float(self.schedule.alphas_cumprod[self._next[t]])
        # Song et al. 2021, eq. 12 with sigma = 0: re-noise x0 along the implied epsilon.
        eps = (sample - math.sqrt(abar) * x0_pred) / math.sqrt(1 - abar)
        return StepOutput(math.sqrt(abar_prev) * x0_pred + math.sqrt(1 - abar_prev) * eps, x0_pred)


class DPMSolverPP2MSampler(_SkippingSampler):
    """``_last`` holds the (x0 prediction, lambda) of the previous step."""

    name = "dpmpp-2m"

    def _lambda(self, t: int) -> float:
        abar = float(self.schedule.alphas_cumprod[t])
        return 0.5 * math.log(abar / (1 - abar))  # log(alpha_t / sigma_t)

    def step(self, x0_pred, t: int, sample, generator=None) -> StepOutput:
        t_prev = self._next[t]
        if t_prev == 0:  # sigma = 0: the solution is the data prediction itself
            self._last = None
            return StepOutput(x0_pred, x0_pred)
        abar, abar_prev = float(self.schedule.alphas_cumprod[t]), float(self.schedule.alphas_cumprod[t_prev])
        lam, lam_prev = self._lambda(t), self._lambda(t_prev)
        h = lam_prev - lam
        d = x0_pred
        if self._last is not None:
            # Lu et al. 2022 (DPM-Solver++), Alg. 2: linear extrapolation of the data
            # prediction with ratio r = h_{i-1} / h_i.
            last_x0, last_lam = self._last
            r = (lam - last_lam) / h
            d = (1 + 1 / (2 * r)) * x0_pred - (1 / (2 * r)) * last_x0
        self._last = (x0_pred, lam)
        sigma, sigma_prev = math.sqrt(1 - abar), math.sqrt(1 - abar_prev)
        prev = (sigma_prev / sigma) * sample - math.sqrt(abar_prev) * math.expm1(-h) * d
        return StepOutput(prev, x0_pred)


SAMPLERS = {cls.name: cls for cls in (DDIMSampler, DPMSolverPP2MSampler, DDPMSampler)}


def make_sampler(name: str, schedule: CosineSchedule):
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {sorted(SAMPLERS)}")
    return SAMPLERS[name](schedule)
