"""Evaluation of generated motion: vertex metrics against ground truth, and lip-sync
measures that need only the audio and its phone times."""
