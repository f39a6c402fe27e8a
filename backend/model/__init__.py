"""DiffPoseTalk model side: networks, schedule and samplers, the generation pipeline,
checkpoints and the import of the released files.

Importing this package is light (no torch); ``load_model`` imports torch when called.
"""
from .errors import Cancelled, CheckpointError


def load_model(path, device="cpu", style_encoder=None, stats=None, **kwargs):
    """See ``backend.model.bundle.load_model``."""
    from .bundle import load_model as _load_model

    return _load_model(path, device=device, style_encoder=style_encoder, stats=stats, **kwargs)


__all__ = ["Cancelled", "CheckpointError", "load_model"]
