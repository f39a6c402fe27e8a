"""A tiny corpus for training tests: a few speakers whose jaw follows a loud/quiet
pattern in the audio, each with its own expression offsets and head sway."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backend.data.format import (SAMPLES_PER_FRAME, Clip, ClipRecord, clip_paths, save_audio, save_clip,
                                 write_manifest)
from backend.data.stats import compute_corpus_stats, save_stats

ROOT = Path(__file__).resolve().parents[2]
FRAMES = 230  # > 210, the style encoder's crop


def _clip(rng, speaker_index: int):
    """Syllables of 'ba' / 'ma' / 'pa' with pauses: audio, phones, motion."""
    phones, t = [("SIL", 0.0, 0.3)], 0.3
    while t < FRAMES / 25 - 0.6:
        consonant = ["B", "M", "P"][rng.integers(3)]
        phones += [(consonant, t, t + 0.08), ("AA", t + 0.08, t + 0.3)]
        t += 0.3
        if rng.random() < 0.25:
            phones.append(("SIL", t, t + 0.5))
            t += 0.5
    phones.append(("SIL", t, FRAMES / 25))
    n = FRAMES * SAMPLES_PER_FRAME
    time = np.arange(n) / 16000
    loud = np.zeros(n)
    jaw = np.zeros(FRAMES)
    frame_time = (np.arange(FRAMES) + 0.5) / 25
    for phone, start, end in phones:
        if phone == "AA":
            loud[(time >= start) & (time < end)] = 1.0
            jaw[(frame_time >= start) & (frame_time < end)] = 0.25
    audio = 0.3 * loud * np.sin(2 * np.pi * (120 + 10 * speaker_index) * time) + 0.003 * rng.normal(size=n)
    exp = np.zeros((FRAMES, 50))
    exp[:, speaker_index % 50] = 0.5 + 0.1 * np.sin(frame_time * (1 + speaker_index))
    exp[:, 10] = jaw * (1 + 0.2 * speaker_index)
    pose = np.zeros((FRAMES, 6))
    pose[:, 1] = 0.05 * (speaker_index % 3) * np.sin(frame_time * 1.3 + speaker_index)
    pose[:, 3] = jaw
    return audio.astype(np.float32), phones, exp, pose


def make_corpus(root, n_speakers: int = 6, clips_per_speaker: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    records = []
    for s in range(n_speakers):
        speaker = f"spk{s}"
        split = "test" if s == n_speakers - 1 else "train"
        for c in range(clips_per_speaker):
            clip_id = f"{speaker}_{c}"
            audio, phones, exp, pose = _clip(rng, s)
            audio_path, motion_path = clip_paths(root, speaker, clip_id)
            save_audio(root / audio_path, audio)
            save_clip(root / motion_path, Clip(exp=exp, pose=pose, expression_space="arkit", speaker=speaker,
                                               phones=phones))
            records.append(ClipRecord(id=clip_id, speaker=speaker, split=split, audio=str(audio_path),
                                      motion=str(motion_path), frames=FRAMES, expression_space="arkit"))
    write_manifest(root, records)
    save_stats(root / "stats.npz", compute_corpus_stats(root))
    return root


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def tiny_config(audio: str = "frames"):
    """A model small enough to train a few steps in a test."""
    from backend.model.config import AudioEncoderConfig, DenoiserConfig, ModelConfig, StyleEncoderConfig
    from backend.speech.features import FEATURE_DIM

    audio_cfg = (AudioEncoderConfig(kind="frames", out_dim=32, feature_dim=FEATURE_DIM, hidden=32, n_layers=1)
                 if audio == "frames" else
                 AudioEncoderConfig(kind="mel", out_dim=32, hidden=32, n_layers=1, n_heads=2, n_mels=20))
    return ModelConfig(
        DenoiserConfig(width=32, n_layers=1, n_heads=2, ffn_dim=64, dropout=0.0),
        StyleEncoderConfig(n_layers=1, n_heads=2, ffn_dim=64, dropout=0.0),
        audio_cfg,
    )


def tiny_loop(**overrides):
    from backend.training.loop import LoopConfig

    values = dict(steps=4, batch_size=4, lr=1e-3, warmup=2, log_every=2, checkpoint_every=2, seed=0)
    values.update(overrides)
    return LoopConfig(**values)


@pytest.fixture(scope="session")
def tiny_style(tiny_corpus, tmp_path_factory):
    """A style encoder trained a few steps on the tiny corpus (its run folder)."""
    from backend.training.stages import train_style_encoder

    out = tmp_path_factory.mktemp("style")
    train_style_encoder(tiny_corpus, out, tiny_config().style_encoder, tiny_loop(), "cpu")
    return out


@pytest.fixture(scope="session")
def tiny_model(tiny_corpus, tiny_style, tmp_path_factory):
    """A denoiser run folder (checkpoint/ in our format) trained a few steps."""
    from backend.training.stages import train_denoiser

    out = tmp_path_factory.mktemp("denoiser")
    train_denoiser(tiny_corpus, out, tiny_config(), tiny_style, tiny_loop(), "cpu", loss_vertices=100)
    return out
