import math

import pytest
import torch

from backend.model.errors import SamplingError
from backend.model.samplers import DDIMSampler, DDPMSampler, DPMSolverPP2MSampler, make_sampler
from backend.model.sampling import Sampling, resolve_sampling
from backend.model.schedule import CosineSchedule

SCHEDULE = CosineSchedule()


def gaussian_x0(xt, t, mu=1.5, var=0.25):
    """Exact E[x0 | x_t] when the data are N(mu, var): the ideal x0-predicting network."""
    abar = float(SCHEDULE.alphas_cumprod[t])
    gain = math.sqrt(abar) * var / (abar * var + 1 - abar)
    return mu + gain * (xt - math.sqrt(abar) * mu)


def run(sampler, steps, n=20000, seed=0):
    g = torch.Generator().manual_seed(seed)
    sampler.set_timesteps(steps)
    x = torch.randn(n, generator=g, dtype=torch.float64)
    for t in sampler.timesteps:
        x = sampler.step(gaussian_x0(x, t), t, x, g).prev_sample
    return x


@pytest.mark.parametrize("name,steps,tol", [("ddpm", None, 0.02), ("ddim", 100, 0.02), ("dpmpp-2m", 20, 0.02), ("dpmpp-2m", 10, 0.05)])
def test_samplers_reproduce_the_data_distribution(name, steps, tol):
    x = run(make_sampler(name, SCHEDULE), steps)
    assert float(x.mean()) == pytest.approx(1.5, abs=0.02)
    assert float(x.std()) == pytest.approx(0.5, rel=tol)


def test_ddim_is_deterministic_and_ddpm_is_not():
    a, b = run(DDIMSampler(SCHEDULE), 20, n=10, seed=0), run(DDIMSampler(SCHEDULE), 20, n=10, seed=0)
    assert torch.equal(a, b)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    x = torch.zeros(5, dtype=torch.float64)
    s = DDPMSampler(SCHEDULE)
    s.set_timesteps()
    assert not torch.equal(s.step(x, 300, x, g1).prev_sample, s.step(x, 300, x, g2).prev_sample)


def test_ddpm_step_is_the_posterior_and_adds_no_noise_at_t1():
    s = DDPMSampler(SCHEDULE)
    s.set_timesteps()
    assert s.timesteps == list(range(500, 0, -1))
    x0, xt = torch.full((4,), 0.3, dtype=torch.float64), torch.full((4,), -1.0, dtype=torch.float64)
    out = s.step(x0, 1, xt, torch.Generator().manual_seed(0)).prev_sample
    assert torch.allclose(out, x0)  # alpha_bar_0 = 1: posterior mean is x0 and variance 0
    t = 200
    a, ab, abp = (float(v) for v in (SCHEDULE.alphas[t], SCHEDULE.alphas_cumprod[t], SCHEDULE.alphas_cumprod[t - 1]))
    mean = (1 - abp) * math.sqrt(a) / (1 - ab) * xt + (1 - a) * math.sqrt(abp) / (1 - ab) * x0
    g = torch.Generator().manual_seed(5)
    noise = torch.randn(4, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    out = s.step(x0, t, xt, g).prev_sample
    assert torch.allclose(out, mean + math.sqrt(float(SCHEDULE.posterior_variance[t])) * noise)
    with pytest.raises(ValueError):
        s.set_timesteps(20)


def test_ddim_step_moves_along_the_implied_noise():
    s = DDIMSampler(SCHEDULE)
    s.set_timesteps(10)
    assert s.timesteps[0] == 500 and s.timesteps[-1] == 50 and len(s.timesteps) == 10
    assert all(a > b for a, b in zip(s.timesteps, s.timesteps[1:]))
    x0, eps = torch.tensor([0.7, -0.2]), torch.tensor([1.0, 2.0])
    ab = float(SCHEDULE.alphas_cumprod[500])
    xt = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * eps
    abp = float(SCHEDULE.alphas_cumprod[450])
    assert torch.allclose(s.step(x0, 500, xt).prev_sample, math.sqrt(abp) * x0 + math.sqrt(1 - abp) * eps, atol=1e-6)


def test_dpmpp_first_step_equals_ddim_and_second_uses_history():
    ddim, dpm = DDIMSampler(SCHEDULE), DPMSolverPP2MSampler(SCHEDULE)
    ddim.set_timesteps(5)
    dpm.set_timesteps(5)
    xt = torch.tensor([0.5, -1.0], dtype=torch.float64)
    x0a, x0b = torch.tensor([0.1, 0.2], dtype=torch.float64), torch.tensor([0.3, -0.4], dtype=torch.float64)
    t0, t1 = ddim.timesteps[:2]
    first = dpm.step(x0a, t0, xt).prev_sample
    assert torch.allclose(first, ddim.step(x0a, t0, xt).prev_sample)
    # The same x0 twice: the extrapolation is x0 itself, so the step equals DDIM's again.
    assert torch.allclose(dpm.step(x0a, t1, first).prev_sample, ddim.step(x0a, t1, first).prev_sample)
    dpm.set_timesteps(5)
    dpm.step(x0a, t0, xt)
    assert not torch.allclose(dpm.step(x0b, t1, first).prev_sample, ddim.step(x0b, t1, first).prev_sample)
    # The last step (to t = 0) returns the data prediction.
    assert torch.equal(dpm.step(x0b, dpm.timesteps[-1], first).prev_sample, x0b)


def test_unknown_sampler_and_bad_steps():
    with pytest.raises(ValueError, match="choose one of"):
        make_sampler("euler", SCHEDULE)
    with pytest.raises(ValueError):
        DDIMSampler(SCHEDULE).set_timesteps(0)


INFO = {"samplers": ["ddim", "dpmpp-2m", "ddpm"], "default_sampler": "dpmpp-2m", "default_steps": 20, "max_steps": 500,
        "default_audio_scale": 1.5, "default_style_scale": 1.0}


def test_sampling_left_out_is_the_models_and_ddpm_runs_every_step():
    assert resolve_sampling(INFO) == Sampling("dpmpp-2m", 20, 1.5, 1.0)
    assert resolve_sampling(INFO, "ddim", 7, 2.0, 0.0) == Sampling("ddim", 7, 2.0, 0.0)
    assert resolve_sampling(INFO, "ddpm").steps == 500 == resolve_sampling(INFO, "ddpm", 500).steps


@pytest.mark.parametrize("sampler,steps,param,limit,needle", [
    ("euler", None, "sampler", None, "not one of this model's samplers"),
    ("ddim", 501, "steps", 500, "at most 500"),
    ("ddpm", 20, "steps", 500, "runs all 500 steps"),
    ("ddim", 0, "steps", None, "at least 1"),
])
def test_sampling_the_model_cannot_run_is_refused_by_name(sampler, steps, param, limit, needle):
    with pytest.raises(SamplingError, match=needle) as refused:
        resolve_sampling(INFO, sampler, steps)
    assert (refused.value.param, refused.value.limit) == (param, limit)
