"""Where the style comes from in training: other clips of the same speaker, and speakers
that differ from a real one only in how much the head or jaw moves."""
import numpy as np
import torch

from backend.data.dataset import MotionWindows
from backend.model.model import StyleEncoder
from backend.training.augment import amplitude_factors, scale_about_mean
from backend.training.denoiser import StyleReferences
from backend.training.style import CROP, StyleObjective, speaker_batches

from helpers import tiny_training_config


def test_cross_clip_batches_pair_two_clips_of_each_speaker(tiny_corpus):
    dataset = MotionWindows(tiny_corpus, "train", window=CROP, n_windows=1, seed=0)
    batches = speaker_batches(dataset, 4, cross_clip=True)(0, np.random.default_rng(0))
    for batch in batches:
        first, second = batch[:4], batch[4:]
        speakers = [dataset.records[i].speaker for i in first]
        assert len(set(speakers)) == 4
        assert speakers == [dataset.records[i].speaker for i in second]
        assert all(a != b for a, b in zip(first, second))  # every speaker has two clips


def test_scale_about_mean_scales_only_the_deviation_of_the_channels():
    vec = torch.randn(2, 50, 54)
    out = scale_about_mean(vec, slice(50, 53), torch.tensor([4.0, 0.5]))
    torch.testing.assert_close(out[..., :50], vec[..., :50])
    torch.testing.assert_close(out[..., 50:53].mean(1), vec[..., 50:53].mean(1))
    ratio = out[..., 50:53].std(1) / vec[..., 50:53].std(1)
    torch.testing.assert_close(ratio, torch.tensor([[4.0] * 3, [0.5] * 3]))


def test_amplitude_factors_are_up_or_down_by_the_range_or_one():
    f = amplitude_factors(4000, torch.Generator().manual_seed(0), probability=0.5)
    changed = f[f != 1.0]
    assert 0.4 < len(changed) / len(f) < 0.6
    assert ((changed >= 2.0) & (changed <= 4.0) | (changed >= 0.25) & (changed <= 0.5)).all()
    assert 0.4 < (changed > 1).float().mean() < 0.6


def test_twins_double_the_contrastive_batch_and_train(tiny_corpus):
    torch.manual_seed(0)
    objective = StyleObjective(StyleEncoder(tiny_training_config().style_encoder), head_pose=True, cross_clip=True,
                               amplitude_twins=True)
    dataset = MotionWindows(tiny_corpus, "train", window=CROP, n_windows=1, seed=0)
    batch = torch.utils.data.default_collate([dataset[i] for i in speaker_batches(dataset, 4, cross_clip=True)(
        0, np.random.default_rng(0))[0]])
    # every speaker sways its head (the tiny corpus has still ones, whose twins are themselves)
    sway = torch.sin(torch.arange(CROP) / 7.0)[None, :, None] * torch.rand(1, 1, 3, generator=torch.Generator().manual_seed(1))
    batch["pose"][..., :3] += sway
    plain = StyleObjective(objective.encoder, head_pose=True, cross_clip=True)
    with torch.no_grad():
        assert objective(batch["exp"], batch["pose"], torch.Generator().manual_seed(0))[0] > plain(
            batch["exp"], batch["pose"])[0]  # twins are negatives that are hard to tell apart
    optimizer = torch.optim.Adam(objective.parameters(), lr=3e-3)
    losses = []
    for step in range(20):
        loss, terms = objective(batch["exp"], batch["pose"], torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


def test_style_references_come_from_another_clip_of_the_same_speaker(tiny_corpus):
    windows = MotionWindows(tiny_corpus, "train", window=100, n_windows=2, seed=0)
    references = StyleReferences(windows)
    assert len(references) == len(windows) and references.expression_space == "arkit"
    item = references[0]
    assert item["style_exp"].shape == item["exp"].shape and item["style_pose"].shape == item["pose"].shape
    # the tiny corpus's speakers each have their own constant channel: find the reference's speaker
    own = windows.records[0].speaker
    other = [i for i, r in enumerate(windows.records) if r.speaker == own and i != 0]
    assert references.others[0] == other
    full = windows.stats
    raw = item["style_exp"].numpy() * (full["exp_std"] + 1e-9) + full["exp_mean"]
    assert int(own[3:]) == int(np.argmax(raw.mean(axis=0)[:10]))
