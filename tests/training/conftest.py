"""Fixtures for the training tests: a tiny corpus (tests/helpers.py ``make_corpus``) and
a style encoder and a denoiser trained a few steps on it."""
from __future__ import annotations

import pytest

from helpers import make_corpus, tiny_loop, tiny_training_config


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def tiny_style(tiny_corpus, tmp_path_factory):
    """A style encoder trained a few steps on the tiny corpus (its run folder)."""
    from backend.training.stages import train_style_encoder

    out = tmp_path_factory.mktemp("style")
    train_style_encoder(tiny_corpus, out, tiny_training_config().style_encoder, tiny_loop(), "cpu")
    return out


@pytest.fixture(scope="session")
def tiny_model(tiny_corpus, tiny_style, tmp_path_factory):
    """A denoiser run folder (checkpoint/ in our format) trained a few steps."""
    from backend.training.stages import train_denoiser

    out = tmp_path_factory.mktemp("denoiser")
    train_denoiser(tiny_corpus, out, tiny_training_config(), tiny_style, tiny_loop(), "cpu", loss_vertices=100)
    return out
