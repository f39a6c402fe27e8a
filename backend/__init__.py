"""DiffPoseTalk backend: model, training, data and the subprocess service.

This package root imports nothing heavy: Blender's Python imports
``backend.protocol`` and ``backend.expression_spaces`` through the add-on, and has no
numpy or torch.
"""

__version__ = "0.1.0"
