"""What tests in several folders build: tiny models and checkpoints, test signals, a tiny
training corpus, and a driver for the real ``python -m backend serve`` subprocess.

A plain module (conftest files define fixtures from it; tests import it by name). torch
is imported inside the functions that need it, so that importing this module stays cheap.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import queue
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from backend import protocol
from project import ROOT

WAIT = 120.0  # generous safety limit for one reply from the service; tests never assert on time

# A HuBERT small enough for tests, with the base model's CNN strides and kernels.
TINY_HUBERT = {
    "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 1, "intermediate_size": 128,
    "conv_dim": [32] * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4,
}
TRAINING_FRAMES = 230  # length of a tiny-corpus clip: > 210, the style encoder's crop


# --- tiny models -------------------------------------------------------------------------

def tiny_model_config(motion_dim=54, audio="frames", n_layers=2, **denoiser):
    """A model of a few hundred thousand parameters for the model-side tests (CPU)."""
    from backend.model.config import AudioEncoderConfig, DenoiserConfig, ModelConfig, StyleEncoderConfig

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


def tiny_loaded(seed=0, **kwargs):
    """A random-weight ``LoadedModel`` of ``tiny_model_config(**kwargs)``."""
    import torch

    from backend.model.checkpoint import LoadedModel
    from backend.model.model import DiffPoseTalk, StyleEncoder

    torch.manual_seed(seed)
    cfg = tiny_model_config(**kwargs)
    model, style = DiffPoseTalk(cfg).eval(), StyleEncoder(cfg.style_encoder).eval()
    presets = {"calm": (np.linspace(-1, 1, cfg.denoiser.style_dim).astype(np.float32), "a test style")}
    return LoadedModel(cfg, model, style, random_stats(seed), "tiny", "flame", presets)


def tiny_checkpoint(directory: Path, name="tiny-service", expression_space="flame") -> Path:
    """A random-weight model with a mel audio encoder, saved by the model package's own
    checkpoint writer: what the service, the CLI and the add-on's real-backend tests load."""
    import torch

    from backend.model.checkpoint import LoadedModel, save_checkpoint
    from backend.model.config import AudioEncoderConfig, DenoiserConfig, ModelConfig, StyleEncoderConfig
    from backend.model.model import DiffPoseTalk, StyleEncoder

    torch.manual_seed(0)
    cfg = ModelConfig(
        DenoiserConfig(width=32, n_layers=1, n_heads=2, ffn_dim=64),
        StyleEncoderConfig(n_layers=1, n_heads=2, ffn_dim=64),
        AudioEncoderConfig(kind="mel", out_dim=32, n_mels=20, hidden=32, n_layers=1, n_heads=2),
    )
    rng = np.random.default_rng(0)
    stats = {}
    for part, n in (("shape", 100), ("exp", 50), ("pose", 6)):
        stats[f"{part}_mean"] = (rng.normal(size=n) * 0.05).astype(np.float32)
        stats[f"{part}_std"] = np.full(n, 0.1, np.float32)
        stats[f"{part}_max"] = stats[f"{part}_mean"] + 1
        stats[f"{part}_min"] = stats[f"{part}_mean"] - 1
    presets = {"calm": (np.linspace(-1, 1, 128).astype(np.float32), "a test style")}
    sampling = {"default_sampler": "ddim", "default_steps": 4, "max_audio_seconds": 1200.0}
    loaded = LoadedModel(cfg, DiffPoseTalk(cfg).eval(), StyleEncoder(cfg.style_encoder).eval(), stats, name,
                         expression_space, presets, sampling)
    return save_checkpoint(directory, loaded)


def released_args(**extra):
    """The ``args`` Namespace a released denoiser file carries."""
    return argparse.Namespace(
        audio_model="hubert", n_heads=2, n_motions=100, fps=25, style_enc_ckpt=pathlib.Path("experiments/SE/x/iter.pt"),
        data_root=pathlib.PosixPath("datasets/HDTF_TFHP/lmdb"), stats_file=pathlib.Path("stats_train.npz"),
        use_indicator=True, **extra)


def write_released(tmp_path, loaded, spelling="old", drop=(), add=None, args=None):
    """``loaded`` written as the released DiffPoseTalk files: (denoiser .pt, style encoder .pt, stats .npz)."""
    import torch

    from backend.model.schedule import CosineSchedule

    state = dict(loaded.model.state_dict())
    for name, table in CosineSchedule().reference_buffers().items():
        state[f"diffusion_sched.{name}"] = table
    if spelling == "old":  # transformers < 4.36 spelling of the positional conv weight norm
        state = {k.replace("parametrizations.weight.original0", "weight_g").replace("parametrizations.weight.original1", "weight_v"): v
                 for k, v in state.items()}
    for key in drop:
        del state[key]
    state.update(add or {})
    denoiser = tmp_path / "DPT" / "head-SA-hubert-WM" / "checkpoints" / "iter_0110000.pt"
    denoiser.parent.mkdir(parents=True)
    torch.save({"args": args or released_args(), "model": state, "iter": 110000}, denoiser)
    style = tmp_path / "SE" / "iter_0026000.pt"
    style.parent.mkdir(parents=True)
    torch.save({"args": argparse.Namespace(n_heads=2, n_motions=100, stats_file=pathlib.Path("s.npz")),
                "encoder": loaded.style_encoder.state_dict(), "iter": 26000}, style)
    stats = tmp_path / "stats_train.npz"
    np.savez(stats, **loaded.stats)
    return denoiser, style, stats


FORWARD_ARGUMENTS = ("x_t", "audio_feat", "person", "prev_motion", "prev_audio", "t", "indicator", "cache")


def record_calls(bundle):
    """Every denoiser call's arguments in the order of its signature, then its output:
    (list of calls, the hook's handle to remove)."""
    import torch

    calls = []

    def record(module, args, kwargs, out):
        given = dict(zip(FORWARD_ARGUMENTS, args), **kwargs)
        values = [given.get(name) for name in FORWARD_ARGUMENTS]
        calls.append([v.clone() if torch.is_tensor(v) else v for v in values] + [out.clone()])

    handle = bundle.model.denoising_net.register_forward_hook(record, with_kwargs=True)
    return calls, handle


# --- test signals ------------------------------------------------------------------------

def tone(seconds, rate=16000, channels=1, seed=0):
    """Speech-like test signal: a gliding tone with noise, (n, channels) float32."""
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    mono = 0.3 * np.sin(2 * np.pi * (150 + 50 * t) * t) + 0.02 * rng.standard_normal(n)
    return np.stack([mono * (0.5 + 0.5 * c / max(channels, 1)) for c in range(channels)], axis=1).astype(np.float32)


def speech_like(seconds, seed=0):
    """A 180 Hz tone with a 3 Hz syllable envelope and a little noise, 16 kHz mono float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (envelope * np.sin(2 * np.pi * 180 * t) + 0.05 * rng.normal(size=t.size)).astype(np.float32)


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


def frame_roughness(vectors, natural) -> np.ndarray:
    """Per frame of ``vectors`` (T, D), its acceleration (second difference) in units of
    ``natural``'s: mean over channels of |acceleration| / the channel's 99th percentile of
    |acceleration| in ``natural`` (T', D). Entry i is frame i + 1 (the first and last
    frames have none). A seam shows as a frame rougher than the motion around it."""
    def acceleration(v):
        v = np.asarray(v, np.float64)
        return np.abs(v[2:] - 2 * v[1:-1] + v[:-2])

    scale = np.percentile(acceleration(natural), 99, axis=0) + 1e-9
    return (acceleration(vectors) / scale).mean(axis=1)


def seam_roughness(vectors, border: int, natural) -> float:
    """``frame_roughness`` at the join before frame ``border``: the rougher of its two sides."""
    return float(frame_roughness(vectors, natural)[[border - 2, border - 1]].max())


# --- a tiny training corpus and training settings ----------------------------------------

def _training_clip(rng, speaker_index: int):
    """Syllables of 'ba' / 'ma' / 'pa' with pauses: audio, phones, motion."""
    from backend.timebase import SAMPLES_PER_FRAME

    frames = TRAINING_FRAMES
    phones, t = [("SIL", 0.0, 0.3)], 0.3
    while t < frames / 25 - 0.6:
        consonant = ["B", "M", "P"][rng.integers(3)]
        phones += [(consonant, t, t + 0.08), ("AA", t + 0.08, t + 0.3)]
        t += 0.3
        if rng.random() < 0.25:
            phones.append(("SIL", t, t + 0.5))
            t += 0.5
    phones.append(("SIL", t, frames / 25))
    n = frames * SAMPLES_PER_FRAME
    time = np.arange(n) / 16000
    loud = np.zeros(n)
    jaw = np.zeros(frames)
    frame_time = (np.arange(frames) + 0.5) / 25
    for phone, start, end in phones:
        if phone == "AA":
            loud[(time >= start) & (time < end)] = 1.0
            jaw[(frame_time >= start) & (frame_time < end)] = 0.25
    audio = 0.3 * loud * np.sin(2 * np.pi * (120 + 10 * speaker_index) * time) + 0.003 * rng.normal(size=n)
    exp = np.zeros((frames, 50))
    exp[:, speaker_index % 50] = 0.5 + 0.1 * np.sin(frame_time * (1 + speaker_index))
    exp[:, 10] = jaw * (1 + 0.2 * speaker_index)
    pose = np.zeros((frames, 6))
    pose[:, 1] = 0.05 * (speaker_index % 3) * np.sin(frame_time * 1.3 + speaker_index)
    pose[:, 3] = jaw
    return audio.astype(np.float32), phones, exp, pose


def make_corpus(root, n_speakers: int = 6, clips_per_speaker: int = 2, seed: int = 0):
    """A few speakers whose jaw follows a loud/quiet pattern in the audio, each with its own
    expression offsets and head sway; the last speaker is the test split."""
    from backend.data.format import Clip, ClipRecord, clip_paths, save_audio, save_clip, write_manifest
    from backend.data.stats import compute_corpus_stats, save_stats

    rng = np.random.default_rng(seed)
    records = []
    for s in range(n_speakers):
        speaker = f"spk{s}"
        split = "test" if s == n_speakers - 1 else "train"
        for c in range(clips_per_speaker):
            clip_id = f"{speaker}_{c}"
            audio, phones, exp, pose = _training_clip(rng, s)
            audio_path, motion_path = clip_paths(root, speaker, clip_id)
            save_audio(root / audio_path, audio)
            save_clip(root / motion_path, Clip(exp=exp, pose=pose, expression_space="arkit", speaker=speaker,
                                               phones=phones))
            records.append(ClipRecord(id=clip_id, speaker=speaker, split=split, audio=str(audio_path),
                                      motion=str(motion_path), frames=TRAINING_FRAMES, expression_space="arkit"))
    write_manifest(root, records)
    save_stats(root / "stats.npz", compute_corpus_stats(root))
    return root


def tiny_training_config(audio: str = "frames"):
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


# --- the real service in a subprocess ----------------------------------------------------

class ServiceProcess:
    """The real ``python -m backend serve`` in a subprocess, driven line by line."""

    def __init__(self, *args, env=None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backend", "serve", *args],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        )
        self.lines = queue.Queue()
        self.stderr = []
        self._next_id = 0
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._collect_stderr, daemon=True).start()
        self.hello = self.next_message()

    def _pump(self, stream, sink):
        for line in stream:
            sink.put(line)
        sink.put(None)

    def _collect_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line.decode("utf-8", "replace"))

    def next_message(self, timeout=WAIT) -> dict:
        line = self.lines.get(timeout=timeout)
        assert line is not None, "the service closed stdout\n" + "".join(self.stderr[-40:])
        # Every stdout line must be a valid protocol message.
        return protocol.decode(line)

    def send_line(self, data: bytes) -> None:
        self.proc.stdin.write(data if data.endswith(b"\n") else data + b"\n")
        self.proc.stdin.flush()

    def send(self, method, params=None, request_id=None):
        if request_id is None:
            self._next_id += 1
            request_id = f"r{self._next_id}"
        self.send_line(protocol.encode(protocol.request(request_id, method, params or {})).encode())
        return request_id

    def wait_reply(self, request_id, events=None) -> dict:
        """Messages until the terminal reply for ``request_id``; other messages go to ``events``."""
        while True:
            message = self.next_message()
            if message["type"] in (protocol.RESPONSE, protocol.ERROR) and message["id"] == request_id:
                return message
            if events is not None:
                events.append(message)

    def call(self, method, params=None, events=None) -> dict:
        return self.wait_reply(self.send(method, params), events)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send(protocol.Method.SHUTDOWN)
                self.proc.wait(timeout=30)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def error_code(message) -> str:
    assert message["type"] == protocol.ERROR, json.dumps(message)[:2000]
    return message["error"]["code"]


def result_of(message) -> dict:
    assert message["type"] == protocol.RESPONSE, json.dumps(message)[:2000]
    return message["result"]
