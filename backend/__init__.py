"""DiffPoseTalk backend: model, training, data and the subprocess service.

This package root imports nothing heavy: Blender's Python imports
``backend.protocol`` and ``backend.expression_spaces`` through the add-on, and has no
numpy or torch.
"""
from pathlib import Path

__version__ = "0.1.0"

# The model that ships with the project (our checkpoint format), used when none is chosen.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "default"
