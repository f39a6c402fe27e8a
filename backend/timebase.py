"""The time base every part of the project shares: speech at 16 kHz, motion at 25 fps.

Models are trained and run on it, corpora are stored in it, and the service resamples to
and from it. Standard library only: the add-on imports it too.
"""
SAMPLE_RATE = 16000  # Hz: audio is decoded and resampled to this
FPS = 25.0           # motion frames per second of every model and corpus
SAMPLES_PER_FRAME = round(SAMPLE_RATE / FPS)  # 640 audio samples per motion frame
