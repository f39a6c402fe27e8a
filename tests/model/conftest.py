"""Fixtures for the model-side tests."""
import pytest
import torch

from helpers import tiny_loaded


@pytest.fixture
def loaded():
    return tiny_loaded()


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    # The machine is shared: more threads than free cores makes small models much slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
