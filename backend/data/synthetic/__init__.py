"""Synthetic speech-and-motion corpus generator (espeak-ng speech, procedural faces).

Modules: ``text`` (sentences), ``speakers`` (voices and facial styles), ``visemes``
(mouth motion from phone timings), ``face`` (head, eyes, brows, smile), ``augment``
(audio augmentation), ``generate`` (clips and the corpus); the command is
``backend/cli/synth_data.py``.
"""
