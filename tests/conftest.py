"""Shared test fixtures.

Blender-side tests run real ``bpy`` in a subprocess each (``run_blender``), so every test
gets a fresh Blender with its user resources and home in a temp dir, and torch never
shares a process with Blender. Those tests, and the demo that drives Blender, carry the
``blender`` marker (set here from the fixtures they use), so that ``scripts/test.sh --fast``
can leave them out.
"""
import pytest

from project import import_extension_package, run_in_blender

import_extension_package()


@pytest.fixture
def blender(request):
    """The Blender version a test runs in: "5.0" unless the test parametrizes it
    (``@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)``)."""
    return getattr(request, "param", "5.0")


@pytest.fixture
def run_blender(tmp_path, blender):
    """``run_in_blender`` bound to this test's temp dir and Blender: ``run_blender(script, **args)``."""

    def run(script: str, timeout: float = 300, **args):
        return run_in_blender(script, tmp_path, timeout=timeout, blender=blender, **args)

    return run


def pytest_collection_modifyitems(items):
    for item in items:
        if "run_blender" in item.fixturenames:
            item.add_marker(pytest.mark.blender)
