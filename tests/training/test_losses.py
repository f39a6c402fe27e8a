import numpy as np
import torch

from backend.data.dataset import MotionWindows
from backend.heads import load_head
from backend.model.model import DiffPoseTalk, StyleEncoder
from backend.model.stats import load_stats
from backend.training.denoiser import DenoiserObjective, denoiser_step, draw, loss_head
from backend.training.losses import DenoiserLoss, MotionDecoder, nt_xent
from backend.training.style import StyleObjective

from helpers import tiny_training_config


def test_nt_xent_is_low_for_matching_views_and_high_for_swapped():
    z = torch.eye(4) * 5
    assert nt_xent(z, z, 0.1) < 1e-3
    assert nt_xent(z, z.roll(1, 0), 0.1) > 5.0


def test_motion_decoder_inverts_normalization(tiny_corpus):
    from backend.model.stats import motion_to_vector, vector_to_motion

    stats = load_stats(tiny_corpus)
    rng = np.random.default_rng(0)
    vec = rng.normal(size=(7, 54)).astype(np.float32)
    exp, pose = MotionDecoder(stats, head_pose=True)(torch.from_numpy(vec))
    exp_np, pose_np = vector_to_motion(vec, stats)
    np.testing.assert_allclose(exp.numpy(), exp_np, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pose.numpy(), pose_np, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(motion_to_vector(exp_np, pose_np, stats, True), vec, rtol=1e-4, atol=1e-4)


def _objective(corpus, cfg):
    torch.manual_seed(0)
    stats = load_stats(corpus)
    head = loss_head(load_head("builtin"), 100).torch_module()
    return DenoiserObjective(DiffPoseTalk(cfg), StyleEncoder(cfg.style_encoder), DenoiserLoss(stats, True, head))


def _batch(corpus, n=4):
    dataset = MotionWindows(corpus, "train", window=100, n_windows=2, phone_features=True, seed=0)
    return torch.utils.data.default_collate([dataset[i] for i in range(n)])


def test_every_denoiser_loss_term_decreases_on_a_fixed_batch(tiny_corpus):
    objective = _objective(tiny_corpus, tiny_training_config())
    batch = _batch(tiny_corpus)
    optimizer = torch.optim.Adam(objective.model.parameters(), lr=3e-3)
    history = []
    for _ in range(30):
        # The same noise, steps and conditions every time: only the weights change.
        loss, terms = denoiser_step(objective, batch, torch.Generator().manual_seed(0))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append({k: v.item() for k, v in {"total": loss, **terms}.items()})
    assert set(history[0]) == {"total", "x0", "vertex", "vertex_velocity", "smooth", "head_angle", "head_velocity",
                               "head_smooth", "head_continuity"}
    assert history[-1]["total"] < 0.7 * history[0]["total"]
    for term in ("x0", "vertex", "vertex_velocity", "head_angle"):
        assert history[-1][term] < history[0][term], term


def test_style_loss_decreases_on_a_fixed_batch(tiny_corpus):
    torch.manual_seed(0)
    cfg = tiny_training_config().style_encoder
    objective = StyleObjective(StyleEncoder(cfg), head_pose=True)
    dataset = MotionWindows(tiny_corpus, "train", window=210, n_windows=1, seed=0)
    batch = torch.utils.data.default_collate([dataset[i] for i in range(0, 8, 2)])  # four speakers
    optimizer = torch.optim.Adam(objective.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss, _ = objective(batch["exp"], batch["pose"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_truncated_frames_do_not_reach_the_loss(tiny_corpus):
    objective = _objective(tiny_corpus, tiny_training_config()).eval()
    batch = _batch(tiny_corpus, 2)
    draws = draw(2, 2, objective.model.cfg.denoiser, torch.Generator().manual_seed(0), "cpu")
    draws["mask"] = torch.ones(2, 2, 100)
    draws["mask"][0, 0, 60:] = 0.0
    draws["mask"][0, 1] = 0.0  # after a cut window, the next one is empty
    changed = {k: v.clone() for k, v in batch.items()}
    changed["exp"][0, 60:] += 3.0  # ground truth after the cut (window 0 tail, window 1)
    changed["pose"][0, 60:] -= 2.0
    changed["features"][0, 70:] = torch.rand_like(changed["features"][0, 70:])  # audio well after the cut
    with torch.no_grad():
        total, _, pred = objective(batch, draws)
        total_changed, _, pred_changed = objective(changed, draws)
        draws["drop_style"][:] = True  # style comes from the other window: take it out of the comparison
        plain = objective(batch, draws)[0]
        plain_changed = objective(changed, draws)[0]
    assert torch.allclose(plain, plain_changed, rtol=1e-5, atol=1e-6)
    # the untouched sample is unaffected; the truncated one still predicts something
    assert torch.allclose(pred[1], pred_changed[1], atol=1e-5)
    assert total.isfinite() and total_changed.isfinite()


def test_loss_head_keeps_landmarks_and_matches_full_head_vertices():
    from backend.heads.regions import lip_region

    head = load_head("builtin")
    small = loss_head(head, 50, seed=1)
    assert small.n_vertices <= 50 + len(head.landmarks)
    with_lips = loss_head(head, 50, seed=1, lips=True)
    assert with_lips.n_vertices >= len(lip_region(head)) > 100
    motion = {"exp": np.random.default_rng(0).uniform(0, 0.5, (3, 50)).astype(np.float32),
              "pose": np.tile(np.array([0.1, 0.05, 0.0, 0.2, 0.0, 0.0], np.float32), (3, 1))}
    full = head.vertices(motion)
    part = small.vertices(motion)
    for name, index in head.landmarks.items():
        np.testing.assert_allclose(part[:, small.landmarks[name]], full[:, index], atol=1e-6)
