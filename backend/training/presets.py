"""Named style presets: style vectors of representative speakers of a corpus.

Each speaker's traits are measured from its motion (so any corpus works, not only the
synthetic one) with the measures of ``backend.evaluation.style_transfer``, the ones the
style benchmark and the preset test read from generated takes: articulation (the jaw's
spread within 4 s windows), head motion (RMS head rotation about its mean within 4 s
windows), smile and brow raise (mean ARKit channels; zero for FLAME). A preset picks the
speaker that scores best on its rule among speakers not yet taken and averages the style
encoder over 100-frame crops of that speaker's clips.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..data.format import load_clip, read_manifest
from ..evaluation.style_transfer import properties
from ..model.stats import motion_to_vector

log = logging.getLogger(__name__)

TRAITS = ("articulation", "head", "smile", "brow")
# name -> (weights over the z-scored traits, one-line description). "neutral" is the
# speaker nearest the middle of every trait.
PRESETS = {
    "neutral": (None, "Moderate articulation and a steady head: the most average speaker of the training set."),
    "calm": ({"articulation": -1.0, "head": -1.0}, "Small, relaxed mouth movements and very little head motion."),
    "expressive": ({"articulation": 1.0, "brow": 1.0}, "Wide articulation with raised, lively brows."),
    "smiling": ({"smile": 1.0, "articulation": 0.2}, "Speaks through a light, constant smile."),
    "lively head": ({"head": 1.0, "articulation": 0.3}, "Lively nods and turns of the head with the speech rhythm."),
}


def speaker_traits(corpus, split: str = "train") -> dict:
    """speaker -> {trait: value} measured over that speaker's clips of ``split``."""
    sums: dict = {}
    for record in read_manifest(corpus, split):
        clip = load_clip(Path(corpus) / record.motion)
        arkit = clip.expression_space == "arkit"
        measured = properties({"exp": clip.exp, "pose": clip.pose})
        values = {
            "articulation": measured["jaw_motion"],
            "head": measured["head_motion_deg"],
            "smile": measured["smile"] if arkit else 0.0,
            "brow": measured["brow"] if arkit else 0.0,
        }
        entry = sums.setdefault(record.speaker, {"n": 0, **{t: 0.0 for t in TRAITS}})
        entry["n"] += 1
        for trait, value in values.items():
            entry[trait] += value
    return {s: {t: e[t] / e["n"] for t in TRAITS} for s, e in sums.items()}


def choose_speakers(traits: dict) -> dict:
    """preset name -> speaker, each speaker used once (needs as many speakers as presets)."""
    speakers = sorted(traits)
    table = np.array([[traits[s][t] for t in TRAITS] for s in speakers])
    z = (table - table.mean(axis=0)) / (table.std(axis=0) + 1e-12)
    chosen, taken = {}, set()
    for name, (weights, _) in PRESETS.items():
        if weights is None:
            score = -np.abs(z).sum(axis=1)
        else:
            score = sum(w * z[:, TRAITS.index(t)] for t, w in weights.items())
        for index in np.argsort(-score, kind="stable"):
            if speakers[index] not in taken:
                chosen[name] = speakers[index]
                taken.add(speakers[index])
                break
    return chosen


@torch.no_grad()
def encode_speaker(encoder, corpus, speaker: str, stats: dict, head_pose: bool, split: str = "train",
                   crops_per_clip: int = 4) -> np.ndarray:
    """Mean style vector over evenly spaced crops of the speaker's clips, (style_dim,)."""
    n = encoder.cfg.n_frames
    crops = []
    for record in read_manifest(corpus, split):
        if record.speaker != speaker or record.frames < n:
            continue
        clip = load_clip(Path(corpus) / record.motion)
        vec = motion_to_vector(clip.exp, clip.pose, stats, head_pose)
        for start in np.linspace(0, clip.frames - n, crops_per_clip).astype(int):
            crops.append(vec[start: start + n])
    if not crops:
        raise ValueError(f"speaker {speaker} has no clip of {n} frames in split {split!r}")
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    styles = encoder(torch.from_numpy(np.stack(crops)).to(device))
    encoder.train(was_training)
    return styles.mean(dim=0).cpu().numpy().astype(np.float32)


def make_presets(encoder, corpus, stats: dict, head_pose: bool, split: str = "train") -> dict:
    """{name: (style vector, description)} for ``PRESETS`` (those the corpus has speakers for)."""
    traits = speaker_traits(corpus, split)
    chosen = choose_speakers(traits)
    presets = {}
    for name, speaker in chosen.items():
        presets[name] = (encode_speaker(encoder, corpus, speaker, stats, head_pose, split), PRESETS[name][1])
        log.info("preset %r from speaker %s (%s)", name, speaker,
                 ", ".join(f"{t} {traits[speaker][t]:.3g}" for t in TRAITS))
    return presets
