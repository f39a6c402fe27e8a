"""The service with the shipped model, whose speech front-end runs in worker processes:
``status`` and ``cancel`` are answered at once while it works, whatever the stage."""
import os
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from backend import DEFAULT_MODEL_DIR
from backend.protocol import ErrorCode, EventName, Method
from helpers import error_code, result_of
from recordings import REAL_SPEECH, real_speech

# The protocol promises that cancel ends a job within a second; the slack is for a busy
# test machine scheduling three processes on two cores.
CANCEL_WITHIN_S = 1.5

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def minute_of_speech(tmp_path_factory):
    audio, transcript = real_speech(60.0)
    path = tmp_path_factory.mktemp("speech") / "minute.flac"
    sf.write(path, audio, 16000)
    return path, transcript


@pytest.fixture
def default_service(service):
    proc = service("--checkpoint", str(DEFAULT_MODEL_DIR))
    assert proc.next_message()["event"] == EventName.MODEL_LOADED
    return proc


def _workers_of(pid):
    """Pids of the front-end worker processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"backend.speech.workers" in command:
            found.append(int(entry.name))
    return found


def _until_stage(proc, job, stage, events):
    while True:
        message = proc.next_message()
        events.append(message)
        assert message.get("id") != job or message["type"] == "event", message
        if message["type"] == "event" and message["event"] == EventName.PROGRESS \
                and message["data"]["stage"] == stage:
            return message


@pytest.mark.parametrize("stage", ["audio", "denoise"])
def test_status_and_cancel_are_answered_at_once_in_every_stage(default_service, minute_of_speech, tmp_path, stage):
    proc = default_service
    output = tmp_path / "take.npz"
    job = proc.send(Method.GENERATE, {"audio": str(minute_of_speech[0]), "output": str(output)})
    events = []
    _until_stage(proc, job, stage, events)
    asked = time.monotonic()
    status = result_of(proc.call(Method.STATUS, events=events))
    assert time.monotonic() - asked < CANCEL_WITHIN_S
    assert status["running"] == {"id": job, "method": Method.GENERATE}
    asked = time.monotonic()
    assert result_of(proc.call(Method.CANCEL, {"id": job}, events))["cancelled"] is True
    assert error_code(proc.wait_reply(job)) == ErrorCode.CANCELLED
    took = time.monotonic() - asked
    assert took < CANCEL_WITHIN_S, f"cancel in the {stage} stage took {took:.2f} s"
    assert not output.exists()
    # the next job runs (fresh workers after a cancel in the front-end)
    short = tmp_path / "short.flac"
    sf.write(short, sf.read(minute_of_speech[0])[0][: 16000 * 3], 16000)
    done = result_of(proc.call(Method.GENERATE, {"audio": str(short), "output": str(tmp_path / "next.npz")}))
    assert done["settings"]["speech"]["sources"] == ["whisper"]
    assert done["settings"]["speech"]["words"]


def test_progress_goes_through_the_front_ends_chunks(default_service, minute_of_speech, tmp_path):
    events = []
    result = result_of(default_service.call(
        Method.GENERATE, {"audio": str(minute_of_speech[0]), "output": str(tmp_path / "take.npz")}, events))
    audio = [e["data"] for e in events if e["event"] == EventName.PROGRESS and e["data"]["stage"] == "audio"]
    chunks = {(d["window"], d["n_windows"]) for d in audio if d["step"] == d["n_steps"] == 1 and d["n_windows"] > 1}
    assert len(chunks) >= 4, audio  # one report per chunk of the minute
    fractions = [e["data"]["fraction"] for e in events if e["event"] == EventName.PROGRESS]
    assert fractions == sorted(fractions)
    speech = result["settings"]["speech"]
    assert speech["aligned_seconds"] > 50 and "might even have been made amiable" in speech["words"]


@pytest.mark.parametrize("fps", [25.0, 30.0])
def test_the_take_comes_with_its_timed_words(default_service, tmp_path, fps):
    """Each word of the transcript comes back once, in order, with a start and an end inside
    the take, and the output file records the same words."""
    from backend.motion_io import load_motion
    from backend.speech.spoken_text import spoken_words

    recording = REAL_SPEECH / "austen_0870"
    output = tmp_path / "take.npz"
    transcript = recording.with_suffix(".txt").read_text().strip()
    result = result_of(default_service.call(Method.GENERATE, {
        "audio": str(recording.with_suffix(".flac")), "output": str(output), "transcript": transcript, "fps": fps,
        "steps": 2}))
    words = result["settings"]["words"]
    assert [w["word"] for w in words] == spoken_words(transcript)
    starts, ends = np.array([w["start"] for w in words]), np.array([w["end"] for w in words])
    assert np.all(ends > starts) and np.all(starts[1:] >= ends[:-1] - 1e-3), "in order, one after another"
    duration = sf.info(recording.with_suffix(".flac")).duration
    assert result["duration"] == pytest.approx(duration, abs=1e-3)
    assert abs(result["frames"] - duration * fps) <= 1
    assert starts[0] >= 0 and ends[-1] <= result["duration"]
    assert starts[0] < 0.6 and ends[-1] > duration - 0.6, "the speech fills the recording but its edges"
    assert 0.05 < np.median(ends - starts) < 0.6, "a word lasts a syllable or a few"
    assert load_motion(output)["settings"]["words"] == words


def test_shutdown_and_a_killed_service_leave_no_worker_behind(service, minute_of_speech, tmp_path):
    for ending in ("shutdown", "kill"):
        proc = service("--checkpoint", str(DEFAULT_MODEL_DIR))
        assert proc.next_message()["event"] == EventName.MODEL_LOADED
        job = proc.send(Method.GENERATE, {"audio": str(minute_of_speech[0]), "output": str(tmp_path / "t.npz")})
        _until_stage(proc, job, "audio", [])
        workers = _workers_of(proc.proc.pid)
        assert workers, "the front-end runs in worker processes"
        if ending == "shutdown":
            asked = time.monotonic()
            proc.send(Method.SHUTDOWN)
            assert proc.proc.wait(timeout=30) == 0
            assert time.monotonic() - asked < 3 * CANCEL_WITHIN_S
        else:
            proc.proc.kill()
            proc.proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() and "Z" not in (Path(f"/proc/{pid}/stat").read_text().split()[2:3] or [""])
                  for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()
                 and (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z")]
        assert not alive, f"workers left after {ending}: {alive}"
