"""Tiny models for the model-side tests (CPU, a few hundred thousand parameters)."""
from __future__ import annotations

import numpy as np
import torch

from backend.model.checkpoint import LoadedModel
from backend.model.config import AudioEncoderConfig, DenoiserConfig, ModelConfig, StyleEncoderConfig
from backend.model.model import DiffPoseTalk, StyleEncoder

# A HuBERT small enough for tests, with the base model's CNN strides and kernels.
TINY_HUBERT = {
    "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 1, "intermediate_size": 128,
    "conv_dim": [32] * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4,
}


def tiny_config(motion_dim=54, audio="frames", n_layers=2, **denoiser) -> ModelConfig:
    if audio == "hubert":
        audio_cfg = AudioEncoderConfig(kind="hubert", out_dim=64, transformers_config=dict(TINY_HUBERT))
    elif audio == "mel":
        audio_cfg = AudioEncoderConfig(kind="mel", out_dim=32, n_mels=20, hidden=32, n_layers=1)
    else:
        audio_cfg = AudioEncoderConfig(kind="frames", out_dim=32, feature_dim=12, hidden=32, n_layers=2)
    d = DenoiserConfig(motion_dim=motion_dim, style_dim=16, width=32, n_layers=n_layers, n_heads=2, ffn_dim=64, **denoiser)
    s = StyleEncoderConfig(motion_dim=motion_dim, width=16, n_layers=1, n_heads=2, ffn_dim=32)
    return ModelConfig(d, s, audio_cfg)


def random_stats(seed=0) -> dict:
    rng = np.random.default_rng(seed)
    stats = {}
    for part, n in (("shape", 100), ("exp", 50), ("pose", 6)):
        stats[f"{part}_mean"] = rng.normal(size=n).astype(np.float32) * 0.1
        stats[f"{part}_std"] = rng.uniform(0.5, 2.0, size=n).astype(np.float32)
        stats[f"{part}_max"] = stats[f"{part}_mean"] + 3
        stats[f"{part}_min"] = stats[f"{part}_mean"] - 3
    return stats


def tiny_loaded(seed=0, **kwargs) -> LoadedModel:
    torch.manual_seed(seed)
    cfg = tiny_config(**kwargs)
    model, style = DiffPoseTalk(cfg).eval(), StyleEncoder(cfg.style_encoder).eval()
    presets = {"calm": (np.linspace(-1, 1, cfg.denoiser.style_dim).astype(np.float32), "a test style")}
    return LoadedModel(cfg, model, style, random_stats(seed), "tiny", "flame", presets)


def band_energies(audio, transcript=None, n_bands=12):
    """Stand-in speech front end for 'frames' models: log energy in 12 bands per 40 ms frame
    (T = round(len / 640), as backend/speech/features.py promises)."""
    n = max(1, round(len(audio) / 640))
    frames = np.zeros((n, 640), np.float32)
    usable = min(len(audio), n * 640)
    frames.reshape(-1)[:usable] = audio[:usable]
    spectrum = np.abs(np.fft.rfft(frames, axis=1))[:, 1:] ** 2
    bands = np.array_split(spectrum, n_bands, axis=1)
    return np.log(np.stack([b.sum(axis=1) for b in bands], axis=1) + 1e-6).astype(np.float32)


def speech_like(seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (envelope * np.sin(2 * np.pi * 180 * t) + 0.05 * rng.normal(size=t.size)).astype(np.float32)
