"""A stand-in for ``python -m backend serve`` that misbehaves on demand.

Run as ``python fake_backend.py MODE``; it speaks the real protocol module's messages.
Modes: ``ok`` (loads instantly, generates a short ARKit-space motion; refuses files that
are not WAV/FLAC/OGG/MP3 with ``not_audio``), ``crash`` (dies mid-job), ``slow`` (a job
that runs until cancelled), ``garbage`` (prints non-protocol text mid-job),
``slow_hello`` (sleeps before hello), ``silent`` (never says hello), ``old_protocol``
(hello with another version), ``hang`` (ignores shutdown, SIGTERM and end of input),
``huge_line`` (answers a job with a 64 MiB line), ``slow_shutdown`` (takes 4 s to exit
after shutdown, as the service does while a cancelled job finishes within its grace),
``nan_motion`` (writes motion files full of NaN, as a broken backend might).
"""
import json
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from backend import protocol  # noqa: E402


def send(message):
    sys.stdout.write(protocol.encode(message) + "\n")
    sys.stdout.flush()


def write_motion(path, frames, fps, seed, nan=False):
    import numpy as np

    t = np.arange(frames, dtype=np.float32) / fps
    exp = np.zeros((frames, 50), np.float32)
    exp[:, 0] = 0.5 + 0.5 * np.sin(2 * np.pi * t + seed)
    exp[:, 20] = 0.5 + 0.4 * np.cos(2 * np.pi * t)
    pose = np.zeros((frames, 6), np.float32)
    pose[:, 3] = 0.1 + 0.1 * np.sin(4 * np.pi * t)
    pose[:, 0] = 0.05 * np.sin(np.pi * t)
    if nan:
        exp[:] = np.nan
    np.savez(path, exp=exp, pose=pose, fps=np.float64(fps), expression_space="arkit",
             shape=np.zeros(100, np.float32), settings=json.dumps({"seed": seed}))


def main(mode):  # further arguments (--device D) are accepted and ignored
    if mode == "hang":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode == "slow_hello":
        time.sleep(1.5)
    if mode == "silent":
        time.sleep(600)
    hello = {"protocol": protocol.PROTOCOL_VERSION, "backend_version": "fake", "device": "cpu", "model": None}
    if mode == "old_protocol":
        message = protocol.event(protocol.EventName.HELLO, hello)
        message["v"] = 0
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()
    else:
        send(protocol.event(protocol.EventName.HELLO, hello))
    info = {"name": "fake", "expression_space": "arkit", "head_pose": True, "presets": ["calm"], "fps": 25.0,
            "max_steps": 500}
    running = None
    for line in sys.stdin:
        request = protocol.decode(line)
        method, rid, params = request["method"], request["id"], request["params"]
        if method == protocol.Method.SHUTDOWN:
            if mode == "hang":
                continue
            send(protocol.response(rid))
            if mode == "slow_shutdown":
                time.sleep(4.0)
            return
        if method == protocol.Method.LOAD_MODEL:
            send(protocol.response(rid, info))
        elif method == protocol.Method.CANCEL:
            cancelled = running is not None and params.get("id") in (None, running)
            if cancelled:
                send(protocol.error(running, protocol.ErrorCode.CANCELLED, "cancelled"))
            send(protocol.response(rid, {"cancelled": cancelled, "id": running if cancelled else None}))
            running = None
        elif method == protocol.Method.GENERATE:
            with open(params["audio"], "rb") as audio:
                magic = audio.read(4)
            if magic not in (b"RIFF", b"fLaC", b"OggS") and not magic.startswith(b"ID3"):
                send(protocol.error(rid, protocol.ErrorCode.NOT_AUDIO, "the file is not audio; choose a WAV, "
                                    "FLAC, OGG or MP3 file", {"path": params["audio"]}))
                continue
            send(protocol.progress(rid, "decode", 0, 1, 0, 1, 0.1))
            if mode == "slow":
                running = rid
                continue
            if mode == "crash":
                print("fake backend: crashing on purpose", file=sys.stderr, flush=True)
                sys.exit(3)
            if mode == "garbage":
                print("Traceback (most recent call last): not json", flush=True)
                continue
            if mode == "huge_line":
                for _ in range(64):
                    sys.stdout.write("x" * 2**20)
                sys.stdout.write("\n")
                sys.stdout.flush()
                continue
            fps = params.get("fps") or 25.0
            start, end = params.get("start") or 0.0, params.get("end") or 1.0
            frames = int(round((end - start) * fps))
            outputs = []
            n = params.get("n_variations") or 1
            for k in range(n):
                path = params["output"] if n == 1 else params["output"].replace(".npz", f"_{k + 1}.npz")
                write_motion(path, frames, fps, k, nan=mode == "nan_motion")
                outputs.append(path)
            send(protocol.progress(rid, "sample", 0, 1, 1, 1, 0.9))
            send(protocol.response(rid, {"outputs": outputs, "frames": frames, "fps": fps,
                                         "duration": end - start, "expression_space": "arkit",
                                         "settings": {"style": params.get("style")}}))
        else:
            send(protocol.error(rid, protocol.ErrorCode.UNKNOWN_METHOD, f"fake backend has no {method}"))
    if mode == "hang":
        time.sleep(600)  # ignores the end of stdin too


if __name__ == "__main__":
    main(sys.argv[1])
