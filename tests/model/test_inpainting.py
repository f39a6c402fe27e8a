"""Inpainting: part of a take generated again, joining the frames kept around it."""
import math

import numpy as np
import pytest
import torch

from backend import DEFAULT_MODEL_DIR
from backend.model.bundle import ModelBundle
from backend.model.pipeline import window_starts
from backend.model.stats import motion_to_vector

from helpers import band_energies, frame_roughness, record_calls, seam_roughness, speech_like, tiny_loaded


def new_frames(n, *ranges):
    new = np.zeros(n, bool)
    for start, end in ranges:
        new[start:end] = True
    return new


def test_window_layout():
    assert window_starts(250, 100, 10) == [0, 100, 200]  # no inpainting: the reference's windows
    # From the first new frame (its context: the 10 kept frames before), to 25 kept frames past the last.
    assert window_starts(400, 100, 10, new_frames(400, (150, 180))) == [150]
    assert window_starts(400, 100, 10, new_frames(400, (5, 20))) == [0]  # too close to the start for a context
    # The last window ends 25 frames past the range, overlapping the one before.
    assert window_starts(500, 100, 10, new_frames(500, (100, 300))) == [100, 200, 225]
    assert window_starts(500, 100, 10, new_frames(500, (380, 500))) == [380, 400]
    # A window with nothing new is left out.
    assert window_starts(400, 100, 10, new_frames(400, (0, 100), (250, 400))) == [0, 200, 300]
    assert window_starts(400, 100, 10, new_frames(400)) == []


def bundle_and_take(seconds=9.0):
    bundle = ModelBundle(tiny_loaded())
    audio = speech_like(seconds)
    return bundle, audio, bundle.generate(audio, sampler="ddim", steps=3, seed=0, speech_features=band_energies(audio))[0]


def test_kept_frames_stay_and_every_step_is_constrained_by_them():
    bundle, audio, take = bundle_and_take()
    n = len(take["exp"])
    keep = ~new_frames(n, (120, 160))
    calls, handle = record_calls(bundle)
    out = bundle.generate(audio, sampler="ddim", steps=3, seed=1, speech_features=band_energies(audio),
                          keep={"exp": take["exp"], "pose": take["pose"], "mask": keep})[0]
    handle.remove()
    np.testing.assert_allclose(out["exp"][keep], take["exp"][keep], atol=1e-5)
    np.testing.assert_allclose(out["pose"][keep], take["pose"][keep], atol=1e-5)
    assert np.abs(out["exp"][~keep] - take["exp"][~keep]).mean() > 1e-2
    assert len(calls) == 3  # one window, from frame 120, sampled; the others are the take's
    known = torch.from_numpy(motion_to_vector(take["exp"], take["pose"], bundle.stats, True))
    # Its context is the take's 10 frames before the range.
    torch.testing.assert_close(calls[0][3][0], known[110:120], atol=1e-5, rtol=0)
    # At every step the kept frames of x_t are the take noised to that step, with one noise.
    window_keep = torch.from_numpy(keep[120:220])
    noises = []
    for x_t, t in ((call[0][0], int(call[5][0])) for call in calls):
        abar = float(bundle.schedule.alphas_cumprod[t])
        noises.append((x_t[window_keep] - math.sqrt(abar) * known[120:220][window_keep]) / math.sqrt(1 - abar))
    for noise in noises[1:]:
        torch.testing.assert_close(noise, noises[0], atol=1e-4, rtol=0)


def test_a_kept_pose_is_held_and_the_rest_generated_around_it():
    bundle, audio, take = bundle_and_take(6.0)
    keep = new_frames(len(take["exp"]), (70, 72))
    out = bundle.generate(audio, sampler="ddim", steps=3, seed=1, speech_features=band_energies(audio),
                          keep={"exp": take["exp"], "pose": take["pose"], "mask": keep})[0]
    np.testing.assert_allclose(out["exp"][keep], take["exp"][keep], atol=1e-5)
    assert np.abs(out["exp"][:60] - take["exp"][:60]).mean() > 1e-2


@pytest.mark.slow
def test_a_regenerated_range_joins_the_take_without_a_seam():
    """With the shipped model and real speech: the joins of a regenerated range are no rougher
    than the take's own frames mostly are, and smoother than pasting in a new take."""
    if not (DEFAULT_MODEL_DIR / "config.json").is_file():
        pytest.skip("the shipped model is not there")
    from backend import audio_io
    from backend.model import load_model
    from backend.speech.features import features_from_audio
    from project import ROOT

    names = ["austen_0870", "austen_0880", "cards_001"]
    folder = ROOT / "assets" / "real_speech"
    audio = np.concatenate([audio_io.load_audio(folder / f"{name}.flac") for name in names])
    words = " ".join((folder / f"{name}.txt").read_text().strip() for name in names)
    bundle = load_model(DEFAULT_MODEL_DIR)
    features = features_from_audio(audio, words)

    def generate(seed, keep=None):
        motion = bundle.generate(audio, speech_features=features, seed=seed, keep=keep)[0]
        return motion, motion_to_vector(motion["exp"], motion["pose"], bundle.stats, bundle.head_pose)

    take, take_vec = generate(0)
    inpainted, pasted = [], []
    for seed, (start, end) in enumerate([(40, 80), (60, 110), (100, 200), (130, 160), (180, 240), (150, 270)], 1):
        keep = ~new_frames(len(take_vec), (start, end))
        motion, vec = generate(seed, {"exp": take["exp"], "pose": take["pose"], "mask": keep})
        np.testing.assert_allclose(motion["exp"][keep], take["exp"][keep], atol=1e-4)
        paste = take_vec.copy()
        paste[start:end] = generate(seed)[1][start:end]
        inpainted += [seam_roughness(vec, border, take_vec) for border in (start, end)]
        pasted += [seam_roughness(paste, border, take_vec) for border in (start, end)]
    natural = frame_roughness(take_vec, take_vec)
    assert np.mean(inpainted) < np.mean(pasted)
    assert np.mean(inpainted) < np.percentile(natural, 90)
