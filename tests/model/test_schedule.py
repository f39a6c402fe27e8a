import math

import pytest
import torch

from backend.model.schedule import CosineSchedule


def f(t, T=500, s=0.008):
    return math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2


def test_tables_have_length_T_plus_one_and_beta_0_is_zero():
    s = CosineSchedule()
    for table in (s.betas, s.alphas, s.alphas_cumprod, s.posterior_variance):
        assert table.shape == (501,)
    assert s.betas[0] == 0 and s.alphas_cumprod[0] == 1
    assert float(s.betas[1:].min()) >= 1e-4 and float(s.betas.max()) == pytest.approx(0.999)


@pytest.mark.parametrize("t", [2, 10, 100, 250, 400, 499])
def test_alphas_cumprod_matches_the_closed_form(t):
    s = CosineSchedule()
    # beta_1 of the raw cosine is below 1e-4 and gets clipped; after that the ratio of f
    # telescopes, so alpha_bar(t) = (1 - 1e-4) * f(t) / f(1).
    assert 1 - f(1) / f(0) < 1e-4
    assert float(s.alphas_cumprod[t]) == pytest.approx((1 - 1e-4) * f(t) / f(1), rel=1e-9)


def test_last_beta_is_clipped_to_0999():
    s = CosineSchedule()
    assert float(s.alphas_cumprod[500]) == pytest.approx(float(s.alphas_cumprod[499]) * 1e-3, rel=1e-9)


def test_posterior_variance_and_reference_buffers():
    s = CosineSchedule()
    assert s.posterior_variance[1] == 0  # alpha_bar_0 = 1: the last step adds no noise
    t = 300
    expected = (1 - s.alphas_cumprod[t - 1]) / (1 - s.alphas_cumprod[t]) * s.betas[t]
    assert float(s.posterior_variance[t]) == pytest.approx(float(expected))
    buffers = s.reference_buffers()
    assert set(buffers) == {"betas", "alphas", "alpha_bars", "sigmas_flex", "sigmas_inflex"}
    assert all(b.dtype == torch.float32 and b.shape == (501,) for b in buffers.values())


def test_add_noise_is_forward_process():
    s = CosineSchedule()
    x0, eps = torch.ones(2, 3, 4), torch.full((2, 3, 4), 2.0)
    t = torch.tensor([1, 400])
    xt = s.add_noise(x0, eps, t)
    for i, ti in enumerate(t.tolist()):
        abar = float(s.alphas_cumprod[ti])
        assert torch.allclose(xt[i], torch.full((3, 4), math.sqrt(abar) + 2 * math.sqrt(1 - abar)))
