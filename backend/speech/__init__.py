"""Speech front-end: phone features a model trained on synthetic speech can take from real voices.

``phones`` (stdlib only) holds the shared phone set; ``features`` turns audio (recognizer at
inference) or true phone timings (training) into 25 fps frame features; ``espeak`` speaks
text with exact phoneme timings for synthetic training data. See docs/speech-frontend.md.
"""
