"""Exceptions of the model package (standard library only, so callers can catch them
without importing torch)."""


class Cancelled(Exception):
    """Generation was stopped because ``cancelled()`` returned True."""


class CheckpointError(Exception):
    """A checkpoint file is missing, malformed, or does not match the architecture."""
