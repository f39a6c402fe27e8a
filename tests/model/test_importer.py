"""Released-format files written here from our own models, in exactly that layout."""
import argparse
import pathlib

import numpy as np
import pytest
import torch

from backend.cli.import_checkpoint import run
from backend.model import CheckpointError, load_model
from backend.model.checkpoint import load_checkpoint
from backend.model.importer import import_denoiser, load_released, load_style_vector

from helpers import TINY_HUBERT, released_args, speech_like, tiny_loaded, write_released


@pytest.fixture
def hubert_loaded():
    return tiny_loaded(audio="hubert")


@pytest.mark.parametrize("spelling", ["old", "new"])
def test_import_is_exact(tmp_path, hubert_loaded, spelling):
    denoiser, style, stats = write_released(tmp_path, hubert_loaded, spelling)
    imported = load_released(denoiser, style, stats)
    assert imported.name == "head-SA-hubert-WM"
    assert imported.config.audio_encoder.transformers_config["hidden_size"] == TINY_HUBERT["hidden_size"]
    assert imported.config.denoiser.use_indicator and imported.config.denoiser.motion_dim == 54
    for ours, theirs in ((hubert_loaded.model, imported.model), (hubert_loaded.style_encoder, imported.style_encoder)):
        a, b = ours.state_dict(), theirs.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    bundle = load_model(denoiser, style_encoder=style, stats=stats)
    audio = speech_like(1.0)
    from backend.model.bundle import ModelBundle

    expected = ModelBundle(hubert_loaded).generate(audio, sampler="ddim", steps=2)[0]
    got = bundle.generate(audio, sampler="ddim", steps=2)[0]
    np.testing.assert_allclose(got["exp"], expected["exp"], atol=1e-5)


def test_no_head_pose_and_no_indicator_are_inferred_from_shapes(tmp_path):
    loaded = tiny_loaded(audio="hubert", motion_dim=51, use_indicator=False)
    denoiser, style, stats = write_released(tmp_path, loaded, args=released_args())
    config, _, _ = import_denoiser(denoiser)
    assert config.denoiser.motion_dim == 51 and not config.denoiser.head_pose
    assert config.denoiser.use_indicator is False  # args say True: shapes win


def test_every_missing_and_unexpected_key_is_listed(tmp_path, hubert_loaded):
    drop = ("denoising_net.motion_dec.0.bias", "audio_encoder.encoder.layers.1.attention.q_proj.weight")
    denoiser, _, _ = write_released(tmp_path, hubert_loaded, drop=drop, add={"denoising_net.surprise": torch.ones(2)})
    with pytest.raises(CheckpointError) as err:
        import_denoiser(denoiser)
    message = str(err.value)
    assert all(f"missing: {k}" in message for k in drop) and "unexpected: denoising_net.surprise" in message


class Payload:
    """Stands for anything a hostile pickle could carry."""


def test_unknown_classes_are_refused(tmp_path, hubert_loaded):
    denoiser, _, _ = write_released(tmp_path, hubert_loaded, args=released_args(hook=Payload()))
    with pytest.raises(CheckpointError, match="Payload"):
        import_denoiser(denoiser)


def test_a_windows_path_in_args_is_read(tmp_path, hubert_loaded):
    args = released_args(win=pathlib.PureWindowsPath(r"C:\data\stats.npz"))
    denoiser, _, _ = write_released(tmp_path, hubert_loaded, args=args)
    import_denoiser(denoiser)


def test_wrong_schedule_or_file_kind_is_refused(tmp_path, hubert_loaded):
    bad = {"diffusion_sched.betas": torch.linspace(1e-4, 0.02, 501)}
    denoiser, style, stats = write_released(tmp_path, hubert_loaded, add=bad)
    with pytest.raises(CheckpointError, match="cosine"):
        import_denoiser(denoiser)
    with pytest.raises(CheckpointError, match="style encoder"):
        import_denoiser(style)
    with pytest.raises(CheckpointError, match="style_encoder="):
        load_model(denoiser)


def test_style_vectors_and_conversion_to_our_format(tmp_path, hubert_loaded):
    denoiser, style, stats = write_released(tmp_path, hubert_loaded)
    vec = np.arange(128, dtype=np.float32)
    np.save(tmp_path / "big_mouth.npy", vec)
    assert np.array_equal(load_style_vector(tmp_path / "big_mouth.npy"), vec)
    np.save(tmp_path / "short.npy", vec[:10])
    with pytest.raises(CheckpointError, match="128"):
        load_style_vector(tmp_path / "short.npy")
    args = argparse.Namespace(denoiser=denoiser, style_encoder=style, stats=stats, output=tmp_path / "ours",
                              name="DiffPoseTalk head pose", preset=[["big_mouth", str(tmp_path / "big_mouth.npy")]])
    assert run(args) == 0
    ours = load_checkpoint(tmp_path / "ours")
    assert ours.name == "DiffPoseTalk head pose" and np.array_equal(ours.presets["big_mouth"][0], vec)
