import shutil

import torch

from backend.training.loop import STATE_NAME
from backend.training.stages import CHECKPOINT_DIR, train_denoiser

from helpers import tiny_loop, tiny_training_config


def _state(folder):
    return torch.load(folder / STATE_NAME, weights_only=True)


def test_resume_continues_exactly_where_an_uninterrupted_run_would_be(tiny_corpus, tiny_style, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train_denoiser(tiny_corpus, straight, tiny_training_config(), tiny_style, tiny_loop(steps=4), "cpu", loss_vertices=100)
    train_denoiser(tiny_corpus, resumed, tiny_training_config(), tiny_style, tiny_loop(steps=2), "cpu", loss_vertices=100)
    half = _state(resumed)
    assert half["step"] == 2
    shutil.copy(resumed / STATE_NAME, tmp_path / "half.pt")
    train_denoiser(tiny_corpus, resumed, tiny_training_config(), tiny_style, tiny_loop(steps=4), "cpu", loss_vertices=100)

    a, b = _state(straight), _state(resumed)
    assert a["step"] == b["step"] == 4
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    opt_a, opt_b = a["optimizer"]["state"], b["optimizer"]["state"]
    assert opt_a.keys() == opt_b.keys()
    for index in opt_a:
        for name in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(opt_a[index][name], opt_b[index][name]), (index, name)
    assert a["scheduler"] == b["scheduler"]
    # The resumed run really started from the saved state, not from scratch.
    assert any(not torch.equal(half["model"][k], b["model"][k]) for k in half["model"])
    assert (resumed / CHECKPOINT_DIR / "model.safetensors").exists()

