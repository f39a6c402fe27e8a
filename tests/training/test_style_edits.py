"""Paired style edits, the style statistics and fine-tuning from a checkpoint with them."""
import math

import numpy as np
import pytest
import torch

from backend.expression_spaces import ARKIT_CHANNELS
from backend.model.config import ModelConfig
from backend.model.model import DiffPoseTalk, StyleEncoder, motion_statistics
from backend.training.augment import OFFSET_GROUPS, StyleEditRates, StyleEdits
from backend.training.stages import StageError, start_from_checkpoint

from helpers import tiny_training_config

SMILE = [ARKIT_CHANNELS.index("mouthSmileLeft"), ARKIT_CHANNELS.index("mouthSmileRight")]
MOUTH_CLOSE = ARKIT_CHANNELS.index("mouthClose")


def _stats():
    rng = np.random.default_rng(0)
    return {"exp_mean": rng.uniform(0.02, 0.2, 50).astype(np.float32),
            "exp_std": rng.uniform(0.005, 0.1, 50).astype(np.float32),
            "pose_mean": np.array([0, 0, 0, 0.09, 0, 0], np.float32),
            "pose_std": np.array([0.02, 0.03, 0.015, 0.06, 0, 0], np.float32)}


def _raw(vec, stats):
    exp = vec[..., :50] * torch.tensor(stats["exp_std"]) + torch.tensor(stats["exp_mean"])
    jaw = vec[..., 53] * stats["pose_std"][3] + stats["pose_mean"][3]
    return exp, jaw


def _normalized(exp, head, jaw, stats):
    exp_n = (exp - torch.tensor(stats["exp_mean"])) / torch.tensor(stats["exp_std"])
    head_n = head / torch.tensor(stats["pose_std"][:3])
    jaw_n = (jaw - stats["pose_mean"][3]) / stats["pose_std"][3]
    return torch.cat([exp_n, head_n, jaw_n[..., None]], dim=-1)


def _motion(stats, n=3, t=100):
    g = torch.Generator().manual_seed(1)
    exp = torch.rand(n, t, 50, generator=g) * 0.3
    jaw = torch.rand(n, t, generator=g) * 0.2
    jaw[:, ::10] = 0.0  # closures
    exp[:, ::10, MOUTH_CLOSE] = 0.0
    head = torch.randn(n, t, 3, generator=g) * 0.03
    return _normalized(exp, head, jaw, stats)


def test_jaw_edits_scale_about_closed_so_closures_stay_closed():
    stats = _stats()
    edits = StyleEdits(stats, head_pose=True, arkit=True)
    vec = _motion(stats)
    out = edits(vec, {"head": torch.ones(3), "jaw": torch.tensor([0.4, 1.0, 1.6]), "offset": torch.zeros(3, 50)})
    exp0, jaw0 = _raw(vec, stats)
    exp1, jaw1 = _raw(out, stats)
    torch.testing.assert_close(jaw1, jaw0 * torch.tensor([0.4, 1.0, 1.6])[:, None], atol=1e-6, rtol=1e-5)
    assert jaw1[:, ::10].abs().max() < 1e-6  # closed frames stay closed
    torch.testing.assert_close(exp1[..., MOUTH_CLOSE], exp0[..., MOUTH_CLOSE] * torch.tensor([0.4, 1.0, 1.6])[:, None],
                               atol=1e-6, rtol=1e-5)
    others = [i for i in range(50) if i != MOUTH_CLOSE]
    torch.testing.assert_close(exp1[..., others], exp0[..., others], atol=1e-5, rtol=1e-5)


def test_offsets_move_whole_groups_in_std_units_and_stay_in_the_arkit_range():
    stats = _stats()
    edits = StyleEdits(stats, head_pose=True, arkit=True)
    vec = _motion(stats, n=1)
    offset = torch.zeros(1, 50)
    offset[0, SMILE] = 4.0
    offset[0, ARKIT_CHANNELS.index("browInnerUp")] = 1e4  # far past 1: clipped
    out = edits(vec, {"head": torch.ones(1), "jaw": torch.ones(1), "offset": offset})
    exp0, _ = _raw(vec, stats)
    exp1, _ = _raw(out, stats)
    expected = (exp0[..., SMILE] + 4.0 * torch.tensor(stats["exp_std"][SMILE])).clamp(0, 1)
    torch.testing.assert_close(exp1[..., SMILE], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(exp1[..., ARKIT_CHANNELS.index("browInnerUp")], torch.ones(1, 100), atol=1e-5, rtol=0)


def test_drawn_edits_follow_the_rates_and_leave_closure_channels_alone():
    edits = StyleEdits(_stats(), head_pose=True, arkit=True, rates=StyleEditRates())
    drawn = edits.draw(20000, torch.Generator().manual_seed(0))
    head_changed = drawn["head"] != 1.0
    assert abs(head_changed.float().mean() - 0.4) < 0.02
    assert drawn["head"].min() >= 1 / 5 - 1e-6 and drawn["head"].max() <= 5 + 1e-6
    rates = StyleEditRates()
    jaw_changed = drawn["jaw"] != 1.0
    assert abs(jaw_changed.float().mean() - rates.jaw) < 0.02
    assert drawn["jaw"].min() >= rates.jaw_range[0] - 1e-6 and drawn["jaw"].max() <= rates.jaw_range[1] + 1e-6
    offset = drawn["offset"]
    allowed = {ARKIT_CHANNELS.index(n) for group in OFFSET_GROUPS for n in group}
    assert not offset[:, [i for i in range(50) if i not in allowed]].any()
    for group in OFFSET_GROUPS:  # left and right move together
        columns = [ARKIT_CHANNELS.index(n) for n in group]
        assert (offset[:, columns] == offset[:, columns[:1]]).all()
    flame = StyleEdits(_stats(), head_pose=True, arkit=False).draw(100, torch.Generator().manual_seed(0))
    assert not flame["offset"].any()


def test_statistics_read_the_head_amplitude_as_a_shift_of_its_log_spread():
    stats = _stats()
    vec = _motion(stats, n=1)
    edits = StyleEdits(stats, head_pose=True, arkit=True)
    louder = edits(vec, {"head": torch.tensor([4.0]), "jaw": torch.ones(1), "offset": torch.zeros(1, 50)})
    a, b = motion_statistics(vec), motion_statistics(louder)
    shift = b[0, 54 + 50: 54 + 53] - a[0, 54 + 50: 54 + 53]
    torch.testing.assert_close(shift, torch.full((3,), math.log(4.0)), atol=0.02, rtol=0)
    torch.testing.assert_close(b[0, :50], a[0, :50])  # means of the other channels unchanged


def test_a_style_encoder_with_statistics_appends_them_to_its_embedding():
    cfg = tiny_training_config().style_encoder
    plain = StyleEncoder(cfg).eval()
    with_stats = StyleEncoder(type(cfg)(**{**cfg.__dict__, "statistics": True})).eval()
    with_stats.load_state_dict(plain.state_dict())
    motion = torch.randn(2, 100, 54)
    out = with_stats(motion)
    assert out.shape == (2, cfg.width + 108) == (2, with_stats.cfg.style_dim)
    torch.testing.assert_close(out[:, : cfg.width], plain(motion))
    torch.testing.assert_close(out[:, cfg.width:], motion_statistics(motion))


def test_starting_from_a_checkpoint_without_statistics_changes_nothing_until_trained():
    config = tiny_training_config()
    trained = DiffPoseTalk(config).eval()
    wide_style = type(config.style_encoder)(**{**config.style_encoder.__dict__, "statistics": True})
    wide = ModelConfig(type(config.denoiser)(**{**config.denoiser.__dict__, "style_dim": wide_style.style_dim,
                                                 "statistics_dim": 108}),
                       wide_style, config.audio_encoder)
    model = DiffPoseTalk(wide).eval()
    start_from_checkpoint(model, trained)
    d = config.denoiser
    g = torch.Generator().manual_seed(0)
    x_t = torch.randn(2, d.n_motions, d.motion_dim, generator=g)
    audio = torch.randn(2, d.n_motions, d.width, generator=g)
    prev_motion = torch.randn(2, d.n_prev_motions, d.motion_dim, generator=g)
    prev_audio = torch.randn(2, d.n_prev_motions, d.width, generator=g)
    person = torch.randn(2, d.shape_dim + d.style_dim, generator=g)
    stats = torch.randn(2, wide_style.style_dim - d.style_dim, generator=g) * 3
    t = torch.tensor([5, 300])
    before = trained.denoising_net(x_t=x_t, audio_feat=audio, person=person, prev_motion=prev_motion,
                                   prev_audio=prev_audio, t=t)
    after = model.denoising_net(x_t=x_t, audio_feat=audio, person=torch.cat([person, stats], dim=1),
                                prev_motion=prev_motion, prev_audio=prev_audio, t=t)
    torch.testing.assert_close(after, before)
    torch.testing.assert_close(model.person(torch.zeros(1, d.shape_dim))[:, : d.shape_dim + d.style_dim],
                               trained.person(torch.zeros(1, d.shape_dim)))


def test_starting_from_another_architecture_says_so():
    config = tiny_training_config()
    other = DiffPoseTalk(ModelConfig(type(config.denoiser)(**{**config.denoiser.__dict__, "n_layers": 2}),
                                     config.style_encoder, config.audio_encoder))
    with pytest.raises(StageError, match="same architecture"):
        start_from_checkpoint(DiffPoseTalk(config), other)
