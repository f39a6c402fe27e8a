"""Fixtures for the service tests: a real tiny checkpoint, audio files, and a client that
drives the real ``python -m backend serve`` subprocess."""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from backend import protocol

ROOT = Path(__file__).resolve().parents[2]
WAIT = 120.0  # generous safety limit for one reply; tests never assert on time


def tiny_checkpoint(directory: Path, name="tiny-service", expression_space="flame") -> Path:
    """A random-weight model saved by the model package's own checkpoint writer."""
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


def tone(seconds, rate=16000, channels=1, seed=0):
    """Speech-like test signal: a gliding tone with noise, (n, channels) float32."""
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    mono = 0.3 * np.sin(2 * np.pi * (150 + 50 * t) * t) + 0.02 * rng.standard_normal(n)
    return np.stack([mono * (0.5 + 0.5 * c / max(channels, 1)) for c in range(channels)], axis=1).astype(np.float32)


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("checkpoint") / "tiny")


@pytest.fixture(scope="session")
def audio(tmp_path_factory) -> dict:
    """Audio files by name: every format, odd rates/channels/sample formats, and bad ones."""
    folder = tmp_path_factory.mktemp("audio")
    files = {}

    def write(name, data, rate, **kwargs):
        path = folder / name
        sf.write(path, data, rate, **kwargs)
        files[name.split(".")[0]] = path

    write("wav.wav", tone(1.3, 44100, 2), 44100, subtype="PCM_24")
    write("flac.flac", tone(1.1, 22050, 1), 22050)
    write("ogg.ogg", tone(1.2, 48000, 2), 48000)
    write("mp3.mp3", tone(1.2, 32000, 1), 32000)
    write("u8.wav", tone(0.9, 8000, 3), 8000, subtype="PCM_U8")
    write("float.wav", tone(1.0, 11025, 1), 11025, subtype="FLOAT")
    write("long.wav", tone(40.0, 16000, 1), 16000)
    write("empty.wav", np.zeros((0, 1), np.float32), 16000)
    write("short.wav", tone(0.05, 16000, 1), 16000)
    # Over an hour at a low rate stays a small file.
    write("hour.wav", np.zeros((3601 * 1000, 1), np.int16), 1000, subtype="PCM_U8")
    text = folder / "notes.wav"
    text.write_text("these are my notes, not audio\n" * 20)
    files["text"] = text
    corrupt = folder / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x10\x00\x00WAVEfmt " + os.urandom(200))
    files["corrupt"] = corrupt
    zero_bytes = folder / "zero.mp3"
    zero_bytes.write_bytes(b"")
    files["zero_bytes"] = zero_bytes
    return files


@pytest.fixture(scope="session")
def flame_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "clip.npz"
    rng = np.random.default_rng(1)
    np.savez(path, exp=rng.normal(size=(60, 50)).astype(np.float32) * 0.1,
             pose=rng.normal(size=(60, 6)).astype(np.float32) * 0.05, fps=np.float64(30.0),
             expression_space=np.str_("flame"))
    return path


@pytest.fixture(scope="session")
def arkit_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "arkit.npz"
    np.savez(path, exp=np.full((30, 50), 0.2, np.float32), pose=np.zeros((30, 6), np.float32),
             fps=np.float64(60.0), expression_space=np.str_("arkit"))
    return path


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


@pytest.fixture
def service():
    started = []

    def start(*args, **kwargs):
        proc = ServiceProcess(*args, **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.close()


@pytest.fixture(scope="module")
def bare_service():
    """One service without a model, shared by a module's error-path tests."""
    proc = ServiceProcess("--no-model")
    yield proc
    proc.close()


@pytest.fixture(scope="module")
def loaded_service(checkpoint):
    """One service with the tiny model loaded, shared by a module's tests (they run in order)."""
    proc = ServiceProcess("--checkpoint", str(checkpoint))
    loaded = proc.next_message()
    assert loaded["type"] == protocol.EVENT and loaded["event"] == protocol.EventName.MODEL_LOADED, loaded
    yield proc
    proc.close()
