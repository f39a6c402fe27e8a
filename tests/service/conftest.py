"""Fixtures for the service tests: a real tiny checkpoint, audio files, and a client that
drives the real ``python -m backend serve`` subprocess."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from backend import protocol
from helpers import ServiceProcess, tiny_checkpoint, tone


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
