"""Exceptions of the model package (standard library only, so callers can catch them
without importing torch)."""
from ..cancellation import Cancelled  # noqa: F401  (generation stops with it too)


class CheckpointError(Exception):
    """A checkpoint file is missing, malformed, or does not match the architecture."""


class SamplingError(ValueError):
    """A sampling setting the model cannot use. ``param`` names the setting and ``limit``
    its bound, when it has one; the message says what to choose instead."""

    def __init__(self, param: str, message: str, limit=None):
        super().__init__(f"{param}: {message}")
        self.param, self.limit = param, limit
