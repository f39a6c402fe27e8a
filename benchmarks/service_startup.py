"""Service figures: time to ``hello`` and to a loaded model, cancel latency, and long audio.

    python benchmarks/service_startup.py [--checkpoint DIR] [--runs 5] [--minutes 10]

Prints (all measured on this machine, wall clock, CPU):
- startup: spawn -> ``hello`` line, spawn -> ``model_loaded`` (median and max of --runs);
- status and cancel: on a minute of real speech (the repository's recordings, repeated),
  ``status`` sent while the speech front-end works -> its reply, and ``cancel`` sent in the
  first progress event of each stage (decode, audio = the speech front-end, denoise) ->
  the job's ``cancelled`` error;
- whole process: ``python -m backend generate`` on 1 minute of real speech and on --minutes
  of it, wall time (with the seconds of audio per second of wall time) and the peak RSS of
  the largest of the process and its front-end workers (flat memory = the peaks are close).
Without --checkpoint it uses the shipped model, or else a tiny random-weight model
(it says which).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend import protocol  # noqa: E402
from backend.cli.common import default_checkpoint  # noqa: E402
from backend.timebase import SAMPLE_RATE  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def spawn_service(*args):
    return subprocess.Popen([sys.executable, "-m", "backend", "serve", *args], cwd=ROOT, env=ENV,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def read(proc) -> dict:
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("the service closed its stdout")
    return protocol.decode(line)


def send(proc, request_id, method, params=None):
    proc.stdin.write((protocol.encode(protocol.request(request_id, method, params or {})) + "\n").encode())
    proc.stdin.flush()


def stop(proc):
    send(proc, "bye", protocol.Method.SHUTDOWN)
    proc.wait(timeout=60)


def startup(checkpoint: str, runs: int):
    hello, loaded = [], []
    for _ in range(runs):
        started = time.perf_counter()
        proc = spawn_service("--checkpoint", checkpoint, "--device", "cpu")
        first = read(proc)
        hello.append(time.perf_counter() - started)
        assert first["event"] == protocol.EventName.HELLO, first
        second = read(proc)
        loaded.append(time.perf_counter() - started)
        assert second["event"] == protocol.EventName.MODEL_LOADED, second
        stop(proc)
    return hello, loaded


def stage_latencies(checkpoint: str, audio: Path, output: Path) -> dict:
    """{"status": s, "cancel <stage>": s} measured on one service, one job per stage."""
    proc = spawn_service("--checkpoint", checkpoint, "--device", "cpu")
    read(proc)  # hello
    assert read(proc)["event"] == protocol.EventName.MODEL_LOADED
    latencies = {}
    for stage in ("decode", "audio", "denoise"):
        send(proc, stage, protocol.Method.GENERATE, {"audio": str(audio), "output": str(output)})
        while True:
            message = read(proc)
            if message["type"] != protocol.EVENT:
                raise RuntimeError(f"the job ended before its {stage} stage: {message}")
            if message["event"] == protocol.EventName.PROGRESS and message["data"]["stage"] == stage:
                break
        if stage == "audio":
            sent = time.perf_counter()
            send(proc, "status", protocol.Method.STATUS)
            while read(proc).get("id") != "status":
                pass
            latencies["status during the speech front-end"] = time.perf_counter() - sent
        sent = time.perf_counter()
        send(proc, "stop", protocol.Method.CANCEL, {"id": stage})
        while True:
            message = read(proc)
            if message["type"] == protocol.ERROR and message["id"] == stage:
                latencies[f"cancel in the {stage} stage"] = time.perf_counter() - sent
                assert message["error"]["code"] == protocol.ErrorCode.CANCELLED, message
                break
    stop(proc)
    return latencies


def generate_rss(checkpoint: str, audio: Path, output: Path):
    """Wall time and peak RSS (MiB) of one ``python -m backend generate`` run."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "backend", "generate", str(audio), "-o", str(output),
                             "--checkpoint", checkpoint, "--device", "cpu"], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(proc.stderr.read().decode()[-2000:])
    return elapsed, usage.ru_maxrss / 1024


def write_real_speech(path: Path, seconds: float) -> None:
    """The repository's real recordings (16 kHz) one after another with short pauses,
    repeated to ``seconds``, written block by block so this process stays small (the
    child's peak RSS starts from this process's size at fork)."""
    from backend.audio_io import load_audio

    folder = ROOT / "assets" / "real_speech"
    pause = np.zeros(4800, np.float32)
    unit = np.concatenate([np.concatenate([load_audio(p), pause]) for p in sorted(folder.glob("*.flac"))])
    total = int(seconds * SAMPLE_RATE)
    with sf.SoundFile(path, "w", SAMPLE_RATE, 1, "PCM_16") as f:
        for first in range(0, total, len(unit)):
            f.write(unit[: min(len(unit), total - first)])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="model to measure (default: the shipped model, else a tiny one)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the long-audio run")
    parser.add_argument("--skip-long", action="store_true", help="skip the long-audio runs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoint = args.checkpoint or default_checkpoint()
        which = "given" if args.checkpoint else "shipped"
        if checkpoint is None:
            sys.path.insert(0, str(ROOT / "tests" / "service"))
            from conftest import tiny_checkpoint

            checkpoint, which = str(tiny_checkpoint(tmp / "tiny")), "tiny random-weight (no shipped model)"
        print(f"model: {checkpoint} ({which}); CPU cores usable: {len(os.sched_getaffinity(0))}")

        hello, loaded = startup(checkpoint, args.runs)
        print(f"startup, {args.runs} runs: hello median {statistics.median(hello):.2f} s (max {max(hello):.2f} s); "
              f"model_loaded median {statistics.median(loaded):.2f} s (max {max(loaded):.2f} s)")

        write_real_speech(tmp / "minute.wav", 60.0)
        for what, seconds in stage_latencies(checkpoint, tmp / "minute.wav", tmp / "cancel.npz").items():
            print(f"{what}: reply {seconds * 1000:.0f} ms after the request")
        print(f"output of the cancelled jobs written: {(tmp / 'cancel.npz').exists()}")

        if not args.skip_long:
            for minutes in (1.0, args.minutes):
                path = tmp / f"{minutes:g}min.wav"
                write_real_speech(path, minutes * 60)
                elapsed, rss = generate_rss(checkpoint, path, tmp / f"{minutes:g}min.npz")
                print(f"generate {minutes:g} min of real speech: {elapsed:.1f} s wall "
                      f"({minutes * 60 / elapsed:.1f}x real time), peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
