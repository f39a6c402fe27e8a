import numpy as np
import pytest

from backend.speech.errors import ErrorModel
from backend.speech.features import (FEATURE_DIM, FEATURE_NAMES, MOUTH_SLICE, PHONE_SLICE, PROSODY_SLICE,
                                     features_from_audio, features_from_segments, phone_occupancy)
from backend.speech.phones import MOUTH_CLASSES, PHONES, mouth_class
from backend.speech.prosody import PROSODY_NAMES, prosody
from backend.speech.recognizer import MAX_CHUNK_S, split_points
from speech_audio import ENGLISH, speak16k


def _expected_frames(n_samples):
    return int(round(n_samples / 16000 * 25))


def test_layout():
    assert FEATURE_DIM == len(PHONES) + len(MOUTH_CLASSES) + len(PROSODY_NAMES) == len(FEATURE_NAMES)
    assert FEATURE_NAMES[PHONE_SLICE][0] == "phone_AA" and FEATURE_NAMES[PROSODY_SLICE][0] == "energy"


def test_training_and_inference_features_share_layout_and_length(recognizer, english):
    audio, truth = english
    for n in (len(audio), len(audio) - 321, len(audio) + 7):
        clip = np.resize(audio, n).astype(np.float32)
        inferred = features_from_audio(clip)
        trained = features_from_segments(truth, clip, rng=np.random.default_rng(0))
        assert inferred.shape == trained.shape == (_expected_frames(n), FEATURE_DIM)
        assert inferred.dtype == trained.dtype == np.float32
        for features in (inferred, trained):
            assert np.allclose(features[:, PHONE_SLICE].sum(axis=1), 1.0, atol=1e-5)
            assert np.allclose(features[:, MOUTH_SLICE].sum(axis=1), 1.0, atol=1e-5)


def test_empty_and_tiny_audio():
    for n in (0, 1, 300, 400):
        audio = np.zeros(n, np.float32)
        assert features_from_audio(audio).shape == (_expected_frames(n), FEATURE_DIM)
        assert features_from_segments([], audio).shape == (_expected_frames(n), FEATURE_DIM)


def test_clean_training_features_follow_the_truth(english):
    audio, truth = english
    clean = features_from_segments(truth, audio, corrupt=False)
    noisy = features_from_segments(truth, audio, rng=np.random.default_rng(0))
    again = features_from_segments(truth, audio, rng=np.random.default_rng(0))
    assert np.array_equal(noisy, again)
    assert np.array_equal(clean[:, PROSODY_SLICE], noisy[:, PROSODY_SLICE])
    agreement = np.mean(clean[:, MOUTH_SLICE].argmax(1) == noisy[:, MOUTH_SLICE].argmax(1))
    assert 0.5 < agreement < 0.95  # corrupted, like the recognizer, but not beyond recognition
    # a frame in the middle of a long true phone is that phone
    phone, start, end = max((s for s in truth if s[0] != "SIL"), key=lambda s: s[2] - s[1])
    frame = int((start + end) / 2 * 25)
    assert clean[frame, PHONE_SLICE].argmax() == PHONES.index(phone)
    assert MOUTH_CLASSES[clean[frame, MOUTH_SLICE].argmax()] == mouth_class(phone)
    off = features_from_segments(truth, audio, error_model=ErrorModel(substitution=0, deletion_short=0,
                                                                      deletion_long=0, insertion=0, jitter_s=0,
                                                                      silence=0))
    assert np.array_equal(off, clean)


def test_unmapped_segments_are_refused():
    with pytest.raises(ValueError, match="phone_segments"):
        features_from_segments([("oʊ", 0.0, 0.1)], np.zeros(1600, np.float32))


def test_phone_occupancy_splits_frames():
    occupancy = phone_occupancy([("SIL", 0.0, 0.02), ("M", 0.02, 0.07), ("AA", 0.07, 0.2)], 6)
    assert occupancy.shape == (6, len(PHONES))
    assert occupancy[0, PHONES.index("SIL")] == pytest.approx(0.5)
    assert occupancy[0, PHONES.index("M")] == pytest.approx(0.5)
    assert occupancy[1, PHONES.index("M")] == pytest.approx(0.75)
    assert occupancy[5, PHONES.index("SIL")] == pytest.approx(1.0)  # past the last segment


def test_prosody_ignores_level_and_follows_pitch():
    t = np.arange(16000) / 16000
    tones = [0.5 * np.sign(np.sin(2 * np.pi * f * t)) for f in (100.0, 150.0, 200.0)]
    audio = np.concatenate([np.zeros(8000)] + tones + [np.zeros(8000)]).astype(np.float32)
    loud, quiet = prosody(audio), prosody(audio * 0.01)
    names = list(PROSODY_NAMES)
    speech = slice(20, 90)
    assert np.allclose(loud[speech], quiet[speech], atol=1e-3)
    pitch = loud[:, names.index("pitch")]
    assert np.median(pitch[16:36]) == pytest.approx(np.log2(100 / 150), abs=0.03)
    assert np.median(pitch[41:61]) == pytest.approx(0.0, abs=0.03)
    assert np.median(pitch[66:86]) == pytest.approx(np.log2(200 / 150), abs=0.03)
    voicing = loud[:, names.index("voicing")]
    steady = np.r_[16:36, 41:61, 66:86]  # away from the changes of tone
    assert voicing[:10].max() == 0.0 and voicing[steady].min() > 0.9
    assert loud[:10, names.index("energy")].max() < loud[20:80, names.index("energy")].min() - 1.0


def test_long_audio_features_in_chunks_have_exact_length():
    texts = [ENGLISH, "She sells sea shells by the sea shore, and the shells she sells are sea shells.",
             "How much wood would a woodchuck chuck if a woodchuck could chuck wood?"]
    pause = np.random.default_rng(0).normal(0, 1e-3, 32000).astype(np.float32)  # 2 s of faint hiss
    block = np.concatenate([np.concatenate([speak16k(t)[0], pause]) for t in texts])
    block = np.concatenate([block, np.zeros(-len(block) % 640, np.float32)])  # whole 25 fps frames
    repeats = int(np.ceil(50 * 16000 / len(block)))
    audio = np.concatenate([block] * repeats)[: 50 * 16000 + 123]
    assert len(split_points(audio, MAX_CHUNK_S)) >= 3
    features = features_from_audio(audio)
    assert features.shape == (_expected_frames(len(audio)), FEATURE_DIM)
    # a later copy of the same speech, decoded in another chunk, is heard much like the first
    per_block = len(block) // 640
    first = features[:per_block, MOUTH_SLICE].argmax(1)
    later = features[per_block:2 * per_block, MOUTH_SLICE].argmax(1)
    assert np.mean(first == later) > 0.7
