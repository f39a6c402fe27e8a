import numpy as np
import pytest
import torch

from backend.model.head_prior import HeadMotionPrior, check_settings, head_spread_of_style
from backend.model.model import motion_statistics
from backend.model.stats import HEAD_CHANNELS

D, L = 54, 100


def jittery_window(seed=0, variations=2):
    """A slow head swing plus frame-to-frame jitter, as the raw network predicts it."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(variations, L, D, generator=g)
    t = torch.arange(L, dtype=torch.float32)
    x0[:, :, list(HEAD_CHANNELS)] = 0.05 * torch.sin(t / 12.0)[None, :, None] + 0.05 * torch.randn(
        variations, L, len(HEAD_CHANNELS), generator=g)
    return x0


def head(x):
    return x[:, :, list(HEAD_CHANNELS)]


def test_each_head_channel_reaches_the_target_spread_and_nothing_else_changes():
    target = torch.tensor([[0.8, 0.3, 0.1]])
    x0 = jittery_window()
    out = HeadMotionPrior(HEAD_CHANNELS, 5.0, target)(x0, None, L)
    np.testing.assert_allclose(head(out).std(dim=1, unbiased=False).numpy(), target.expand(2, -1).numpy(), rtol=1e-3)
    others = [c for c in range(D) if c not in HEAD_CHANNELS]
    assert torch.equal(out[:, :, others], x0[:, :, others])


def test_the_low_pass_removes_jitter_but_keeps_the_swing():
    x0 = jittery_window()
    out = HeadMotionPrior(HEAD_CHANNELS, 5.0, None)(x0, None, L)

    def accel(x):
        return head(x).diff(n=2, dim=1).pow(2).mean().sqrt()

    assert accel(out) < 0.1 * accel(x0)
    swing = 0.05 * torch.sin(torch.arange(L) / 12.0)
    assert torch.corrcoef(torch.stack([head(out)[0, 20:80, 0], swing[20:80]]))[0, 1] > 0.95


def test_padding_frames_do_not_count_toward_the_spread():
    target = torch.tensor([[0.5, 0.5, 0.5]])
    x0 = jittery_window(variations=1)
    x0[:, 60:, list(HEAD_CHANNELS)] = 40.0  # padding after 60 real frames
    out = HeadMotionPrior(HEAD_CHANNELS, 0.0, target)(x0, None, 60)
    np.testing.assert_allclose(head(out)[:, :60].std(dim=1, unbiased=False).numpy(), target.numpy(), rtol=1e-3)


def test_a_window_continues_the_course_of_its_context_without_a_step_or_a_kink():
    target = torch.tensor([[1.0, 1.0, 1.0]])
    context = torch.zeros(1, 10, D)
    context[:, :, list(HEAD_CHANNELS)] = (2.0 + 0.03 * torch.arange(10.0))[None, :, None]  # moving at 0.03 / frame
    x0 = jittery_window(variations=1)
    x0[:, :, list(HEAD_CHANNELS)] += 2.1  # the raw prediction goes on near the context, not from its last frame
    out = head(HeadMotionPrior(HEAD_CHANNELS, 5.0, target)(x0, context, L))[0]
    joined = torch.cat([head(context)[0], out])
    np.testing.assert_allclose(joined.diff(dim=0)[9].numpy(), [0.03] * 3, atol=1e-5)  # first new frame: same velocity
    accel = joined.diff(n=2, dim=0).abs()
    assert accel[:25].max() < 1.5 * accel[25:].max()  # the join bends no more than the motion does


def test_the_target_spread_is_read_from_the_statistics_at_the_end_of_a_style_vector():
    motion = torch.randn(1, 100, D) * 0.1
    motion[:, :, list(HEAD_CHANNELS)] *= torch.tensor([3.0, 5.0, 7.0])
    style = torch.cat([torch.randn(1, 128), motion_statistics(motion)], dim=1)[0].numpy()
    spread = head_spread_of_style(style, D, 2 * D)
    np.testing.assert_allclose(spread, head(motion).std(dim=1, unbiased=False)[0].numpy(), rtol=1e-5)


@pytest.mark.parametrize("settings, head_pose, statistics_dim, message", [
    ({"smoothing_frames": 5.0, "default_spread": [0.3, 0.3, 0.3]}, False, 2 * D, "head pose"),
    ({"smoothing_frames": 5.0, "default_spread": [0.3, 0.3, 0.3]}, True, 0, "style statistics"),
    ({"smoothing_frames": 5.0}, True, 2 * D, "exactly"),
    ({"smoothing_frames": -1.0, "default_spread": [0.3, 0.3, 0.3]}, True, 2 * D, ">= 0"),
    ({"smoothing_frames": 5.0, "default_spread": [0.3, 0.3]}, True, 2 * D, ">= 0"),
    ({"smoothing_frames": 5.0, "default_spread": [0.3, float("nan"), 0.3]}, True, 2 * D, ">= 0"),
])
def test_bad_head_prior_settings_are_refused(settings, head_pose, statistics_dim, message):
    with pytest.raises(ValueError, match=message):
        check_settings(settings, head_pose, D, statistics_dim)


def test_good_head_prior_settings_pass():
    check_settings({"smoothing_frames": 5, "default_spread": [0.3, 0.2, 0.1]}, True, D, 2 * D)
