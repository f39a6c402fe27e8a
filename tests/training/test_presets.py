import numpy as np

from backend.model.stats import load_stats
from backend.training.presets import PRESETS, choose_speakers, make_presets, speaker_traits
from backend.training.stages import load_style_encoder


def test_presets_pick_distinct_speakers_by_their_traits():
    traits = {
        "still": {"articulation": 0.01, "head": 0.01, "smile": 0.1, "brow": 0.05},
        "grin": {"articulation": 0.05, "head": 0.05, "smile": 0.9, "brow": 0.05},
        "nodder": {"articulation": 0.05, "head": 0.9, "smile": 0.1, "brow": 0.05},
        "loud": {"articulation": 0.2, "head": 0.05, "smile": 0.1, "brow": 0.5},
        "plain": {"articulation": 0.06, "head": 0.12, "smile": 0.25, "brow": 0.12},
    }
    chosen = choose_speakers(traits)
    assert chosen == {"neutral": "plain", "calm": "still", "expressive": "loud", "smiling": "grin",
                      "lively head": "nodder"}


def test_make_presets_gives_a_style_vector_and_description_each(tiny_corpus, tiny_style):
    encoder = load_style_encoder(tiny_style)
    traits = speaker_traits(tiny_corpus)
    assert set(traits) == {f"spk{i}" for i in range(5)}  # the train speakers
    presets = make_presets(encoder, tiny_corpus, load_stats(tiny_corpus), head_pose=True)
    assert list(presets) == list(PRESETS)
    vectors = np.stack([vec for vec, _ in presets.values()])
    assert vectors.shape == (5, encoder.cfg.width) and np.isfinite(vectors).all()
    assert len({v.tobytes() for v in vectors}) == 5  # five different speakers
    assert all(description for _, description in presets.values())
