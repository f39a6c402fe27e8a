import numpy as np
import pytest
import torch

from backend.model.audio import normalize_waveform
from backend.model.bundle import ModelBundle
from backend.model import guidance
from backend.model.guidance import combine, dynamic_threshold
from backend.model.stats import vector_to_motion

from helpers import tiny_loaded

E0, E1, E2 = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 0.0]), torch.tensor([-1.0, 4.0])


def test_incremental_formula_by_hand():
    # e0 + 1.15 (e1 - e0) + 3 (e2 - e1)
    expected = torch.tensor([1 + 1.15 * 2 + 3 * -4, -2 + 1.15 * 2 + 3 * 4])
    assert torch.allclose(combine(E0, E1, E2, 1.15, 3.0, "incremental"), expected)


def test_independent_formula_by_hand():
    # e0 + 1.15 (e1 - e0) + 3 (e2' - e0), both terms against the unconditional branch
    expected = torch.tensor([1 + 1.15 * 2 + 3 * -2, -2 + 1.15 * 2 + 3 * 6])
    assert torch.allclose(combine(E0, E1, E2, 1.15, 3.0, "independent"), expected)


def test_no_style_branch_drops_the_style_term():
    for mode in ("incremental", "independent"):
        assert torch.allclose(combine(E0, E1, None, 2.0, 3.0, mode), E0 + 2.0 * (E1 - E0))
    with pytest.raises(ValueError):
        combine(E0, E1, E2, 1.0, 1.0, "sideways")


def test_dynamic_threshold_per_sample():
    x = torch.stack([torch.linspace(-10, 10, 101), torch.linspace(-0.5, 0.5, 101)])
    out = dynamic_threshold(x, 0.9)
    s0 = float(torch.quantile(x[0].abs(), 0.9))  # 9.0, inside [1, 4] -> clamped to 4
    assert s0 > 4 and float(out[0].abs().max()) == pytest.approx(4.0)
    assert float(out[1].abs().max()) == pytest.approx(0.5)  # s clamps up to 1: nothing cut
    x2 = torch.linspace(-3, 3, 101).unsqueeze(0)
    s2 = float(torch.quantile(x2.abs(), 0.5))
    assert float(dynamic_threshold(x2, 0.5).max()) == pytest.approx(max(1.0, s2))


@pytest.mark.parametrize("mode", ["incremental", "independent"])
def test_pipeline_batches_three_branches_and_combines_them(mode):
    """One DDIM step from t = 500 lands on the guided x0 (alpha_bar_0 = 1); compare it to
    the three branches run one by one and combined by hand."""
    bundle = ModelBundle(tiny_loaded(audio="mel"))
    model, d = bundle.model, bundle.config.denoiser
    calls = []
    hook = model.denoising_net.register_forward_hook(lambda m, args, kwargs, out: calls.append(kwargs),
                                                     with_kwargs=True)
    audio = np.random.default_rng(0).normal(size=64000).astype(np.float32)
    style = np.random.default_rng(1).normal(size=d.style_dim).astype(np.float32)
    shape = np.zeros(100, np.float32)
    try:
        out = bundle.generate(audio, style=style, shape=shape, sampler="ddim", steps=1,
                              guidance=mode, audio_scale=1.5, style_scale=2.5, seed=3)
    finally:
        hook.remove()
    assert len(calls) == 1 and calls[0]["x_t"].shape[0] == 3  # one forward, three branches batched
    names = ("x_t", "audio_feat", "person", "prev_motion", "prev_audio", "t", "indicator")
    x_t, audio_in, person_in, prev_motion, prev_audio, t, indicator = (calls[0][name] for name in names)
    with torch.no_grad():
        feats = model.audio_features(normalize_waveform(torch.from_numpy(audio))[None], 100)
        null_audio = model.null_audio_feat.expand(1, 100, -1)
        person_null = torch.cat([person_in[:1, : d.shape_dim], model.null_style_feat[0]], dim=1)
        person_style = torch.cat([person_in[:1, : d.shape_dim], torch.from_numpy(style)[None]], dim=1)
        style_audio = feats if mode == "incremental" else null_audio

        def branch(audio, person):
            return model.denoising_net(x_t[:1], audio, person, prev_motion[:1], prev_audio[:1], t[:1], indicator[:1])[:, -100:]

        e0, e1, e2 = branch(null_audio, person_null), branch(feats, person_null), branch(style_audio, person_style)
    x0 = e0 + 1.5 * (e1 - e0) + 2.5 * (e2 - (e1 if mode == "incremental" else e0))
    exp, pose = vector_to_motion(x0[0].numpy(), bundle.stats)
    np.testing.assert_allclose(out[0]["exp"], exp, atol=1e-4)
    np.testing.assert_allclose(out[0]["pose"], pose, atol=1e-4)


def test_unset_scales_take_the_models_recorded_guidance():
    loaded = tiny_loaded(audio="mel")
    loaded.sampling.update(default_audio_scale=2.0, default_style_scale=1.0)
    bundle = ModelBundle(loaded)
    assert (bundle.info()["default_audio_scale"], bundle.info()["default_style_scale"]) == (2.0, 1.0)
    audio = np.random.default_rng(0).normal(size=32000).astype(np.float32)
    style = np.random.default_rng(1).normal(size=bundle.config.denoiser.style_dim).astype(np.float32)
    run = dict(style=style, sampler="ddim", steps=2, seed=3)
    recorded = bundle.generate(audio, **run)[0]["exp"]
    np.testing.assert_array_equal(recorded, bundle.generate(audio, audio_scale=2.0, style_scale=1.0, **run)[0]["exp"])
    assert not np.allclose(recorded, bundle.generate(audio, audio_scale=1.15, style_scale=3.0, **run)[0]["exp"])


def test_released_checkpoints_default_to_the_reference_guidance():
    info = ModelBundle(tiny_loaded(audio="mel")).info()
    assert (info["default_audio_scale"], info["default_style_scale"]) == (1.15, 3.0)


@pytest.mark.parametrize("has_style,mode", [(False, "incremental"), (True, "incremental"), (True, "independent")])
def test_branches_are_batched_in_the_order_guided_reads_them(has_style, mode):
    person, null_person = torch.ones(2, 3), torch.zeros(2, 3)
    audio, null_audio = torch.ones(2, 4, 5), torch.zeros(2, 4, 5)
    persons = guidance.branch_persons(person, null_person, has_style)
    audios = guidance.branch_audio(audio, null_audio, has_style, mode)
    assert len(persons) == len(audios) == 2 * guidance.n_branches(has_style)
    # A "network" that answers with its conditions shows which branch is which.
    pred = torch.stack([audios[:, 0, 0], persons[:, 0]], dim=1)
    e0, e1 = torch.tensor([[0.0, 0.0]] * 2), torch.tensor([[1.0, 0.0]] * 2)
    e2 = torch.tensor([[1.0 if mode == "incremental" else 0.0, 1.0]] * 2) if has_style else None
    assert torch.equal(guidance.guided(pred, has_style, 2.0, 3.0, mode), guidance.combine(e0, e1, e2, 2.0, 3.0, mode))
