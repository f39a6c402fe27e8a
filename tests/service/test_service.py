"""The real service as a subprocess: every method, every bad input, cancel, busy, kill."""
from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

from backend import protocol
from backend.protocol import ErrorCode, EventName, Method

from helpers import error_code, result_of


def load_npz(path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


# ----------------------------------------------------------------- startup and errors

def test_hello_is_first_and_describes_the_service(service):
    proc = service("--no-model")
    hello = proc.hello
    assert hello["type"] == protocol.EVENT and hello["event"] == EventName.HELLO and hello["id"] is None
    data = hello["data"]
    assert data["protocol"] == protocol.PROTOCOL_VERSION
    assert data["device"] == "cpu"
    assert data["model"] is None and data["model_loading"] is None
    assert set(data["methods"]) == set(protocol.METHODS)
    assert data["limits"]["max_audio_seconds"] == protocol.MAX_AUDIO_SECONDS
    assert data["limits"]["max_message_bytes"] == protocol.MAX_MESSAGE_BYTES
    assert data["limits"]["max_string_length"] == protocol.MAX_STRING_LENGTH
    assert data["limits"]["max_style_value"] == protocol.MAX_STYLE_VALUE
    assert data["limits"]["max_region_scale"] == protocol.MAX_REGION_SCALE
    assert data["limits"]["max_lip_sync_offset_frames"] == protocol.MAX_LIP_SYNC_OFFSET_FRAMES
    assert data["limits"]["max_keep_blend_frames"] == protocol.MAX_KEEP_BLEND_FRAMES
    assert data["threads"] >= 1


def test_startup_checkpoint_reports_model_loaded(service, checkpoint):
    proc = service("--checkpoint", str(checkpoint))
    assert proc.hello["data"]["model_loading"] == str(checkpoint)
    loaded = proc.next_message()
    assert loaded["event"] == EventName.MODEL_LOADED
    info = loaded["data"]
    assert info["name"] == "tiny-service" and info["expression_space"] == "flame"
    assert info["presets"] == ["calm"] and info["default_sampler"] == "ddim" and info["fps"] == 25.0
    status = result_of(proc.call(Method.STATUS))
    assert status["model"]["name"] == "tiny-service" and status["running"] is None


def test_a_job_sent_during_the_startup_load_waits_for_it(service, checkpoint, audio, tmp_path):
    proc = service("--checkpoint", str(checkpoint))
    events = []
    first = proc.send(Method.GENERATE, {"audio": str(audio["wav"]), "output": str(tmp_path / "a.npz")})
    second = proc.send(Method.STATUS)
    third = proc.send(Method.GENERATE, {"audio": str(audio["wav"]), "output": str(tmp_path / "b.npz")})
    replies = {}
    while len(replies) < 3:
        message = proc.next_message()
        if message["type"] == protocol.EVENT:
            events.append(message)
        else:
            replies[message["id"]] = message
    assert events[0]["event"] == EventName.MODEL_LOADED  # before any progress of the job
    assert result_of(replies[first])["outputs"] == [str(tmp_path / "a.npz")]
    assert result_of(replies[second])["running"] is not None
    # only one job may wait behind the load: the other is refused, and nothing is queued after it
    assert error_code(replies[third]) == ErrorCode.BUSY


def test_startup_with_a_bad_checkpoint_reports_model_error_and_keeps_serving(service, tmp_path):
    proc = service("--checkpoint", str(tmp_path))
    message = proc.next_message()
    assert message["event"] == EventName.MODEL_ERROR
    assert message["data"]["code"] == ErrorCode.MODEL_LOAD_FAILED
    assert result_of(proc.call(Method.STATUS))["model"] is None


@pytest.mark.parametrize(
    "line, code",
    [
        (b"this is not json", ErrorCode.PARSE_ERROR),
        (b'{"v":2,"type":"request","id":1,"method":"status","params":{"a":NaN}}', ErrorCode.PARSE_ERROR),
        (b'{"v":2,"type":"request","id":1,"id":2,"method":"status"}', ErrorCode.PARSE_ERROR),
        (b"\xff\xfe{}", ErrorCode.PARSE_ERROR),
        (b"[1, 2]", ErrorCode.INVALID_REQUEST),
        (b'{"type":"request","id":1,"method":"status"}', ErrorCode.INVALID_REQUEST),
        (b'{"v":2,"type":"request","method":"status"}', ErrorCode.INVALID_REQUEST),
        (b'{"v":2,"type":"response","id":1,"result":{}}', ErrorCode.INVALID_REQUEST),
        (b'{"v":99,"type":"request","id":1,"method":"status"}', ErrorCode.VERSION_MISMATCH),
        (b'{"v":2,"type":"request","id":1,"method":"fly"}', ErrorCode.UNKNOWN_METHOD),
    ],
)
def test_malformed_lines_get_an_error_and_the_service_keeps_serving(bare_service, line, code):
    proc = bare_service
    proc.send_line(line)
    message = proc.next_message()
    assert error_code(message) == code
    assert message["error"]["message"]
    assert result_of(proc.call(Method.STATUS))["running"] is None


def test_oversized_line_is_refused_without_breaking_the_stream(bare_service):
    proc = bare_service
    proc.send_line(b'{"v":2,"type":"request","id":1,"method":"status","params":{"x":"' +
                   b"a" * (protocol.MAX_MESSAGE_BYTES + 10) + b'"}}')
    message = proc.next_message()
    assert error_code(message) == ErrorCode.MESSAGE_TOO_LARGE
    assert message["error"]["details"]["limit"] == protocol.MAX_MESSAGE_BYTES
    assert result_of(proc.call(Method.STATUS))["running"] is None


@pytest.mark.parametrize(
    "method, params, param",
    [
        (Method.GENERATE, {"output": "x.npz"}, "audio"),
        (Method.GENERATE, {"audio": 3, "output": "x.npz"}, "audio"),
        (Method.GENERATE, {"audio": "a.wav", "output": "x.npz", "seed": "one"}, "seed"),
        (Method.GENERATE, {"audio": "a.wav", "output": "x.npz", "seed": 1.5}, "seed"),
        (Method.GENERATE, {"audio": "a.wav", "output": "x.npz", "steps": 0}, "steps"),
        (Method.GENERATE, {"audio": "a.wav", "output": "x.npz", "fps": 0}, "fps"),
        (Method.GENERATE, {"audio": "a.wav", "output": "x.npz", "n_variations": 17}, "n_variations"),
        (Method.GENERATE, {"audio": "a.wav", "output": "x.npz", "audio_scale": -1}, "audio_scale"),
        (Method.GENERATE, {"audio": "a.wav", "output": "x.npz", "overwrite": "yes"}, "overwrite"),
        (Method.GENERATE, {"audio": "a.wav", "output": "x.npz", "start": 2, "end": 1}, "end"),
        (Method.GENERATE, {"audio": "a.wav", "output": "x.npz", "style": {"kind": "vector", "values": [1] * (protocol.MAX_STYLE_DIM + 1)}}, "style"),
        (Method.GENERATE, {"audio": "a.wav", "output": "x.npz", "style": "calm"}, "style"),
        (Method.GENERATE, {"audio": "a.wav", "output": "x.npz", "shape": [0.0] * 99}, "shape"),
        (Method.GENERATE, {"audio": "a.wav", "output": "x.npz", "speed": 2}, "speed"),
        (Method.LOAD_MODEL, {}, "checkpoint"),
        (Method.ENCODE_STYLE, {"style": {"kind": "preset", "name": "calm"}}, "style"),
        (Method.CANCEL, {"id": True}, "id"),
    ],
)
def test_wrong_parameter_types_and_ranges(bare_service, method, params, param):
    message = bare_service.call(method, params)
    assert error_code(message) == ErrorCode.INVALID_PARAMS
    assert message["error"]["details"]["param"] == param
    assert param in message["error"]["message"]


def test_jobs_without_a_model_say_how_to_load_one(bare_service, audio, tmp_path):
    message = bare_service.call(Method.GENERATE, {"audio": str(audio["wav"]), "output": str(tmp_path / "o.npz")})
    assert error_code(message) == ErrorCode.NO_MODEL and "load_model" in message["error"]["message"]


def test_load_model_errors_and_success(service, checkpoint, tmp_path):
    proc = service("--no-model")
    missing = proc.call(Method.LOAD_MODEL, {"checkpoint": str(tmp_path / "nope")})
    assert error_code(missing) == ErrorCode.FILE_NOT_FOUND
    not_a_model = proc.call(Method.LOAD_MODEL, {"checkpoint": str(tmp_path)})
    assert error_code(not_a_model) == ErrorCode.MODEL_LOAD_FAILED
    bad_device = proc.call(Method.LOAD_MODEL, {"checkpoint": str(checkpoint), "device": "tpu"})
    assert error_code(bad_device) == ErrorCode.INVALID_PARAMS
    no_cuda = proc.call(Method.LOAD_MODEL, {"checkpoint": str(checkpoint), "device": "cuda"})
    assert error_code(no_cuda) == ErrorCode.MODEL_LOAD_FAILED and "--device cpu" in no_cuda["error"]["message"]
    info = result_of(proc.call(Method.LOAD_MODEL, {"checkpoint": str(checkpoint), "device": "cpu"}))
    assert info["name"] == "tiny-service" and info["device"] == "cpu" and info["checkpoint"] == str(checkpoint)


def test_closing_stdin_stops_the_service(service):
    proc = service("--no-model")
    proc.proc.stdin.close()
    assert proc.proc.wait(timeout=30) == 0


def test_shutdown_answers_and_exits(service):
    proc = service("--no-model")
    reply = proc.call(Method.SHUTDOWN)
    assert result_of(reply) == {}
    assert proc.proc.wait(timeout=30) == 0
    assert proc.lines.get(timeout=30) is None  # nothing after the reply


# --------------------------------------------------------------------- generation

@pytest.mark.parametrize("name", ["wav", "flac", "ogg", "mp3", "u8", "float"])
def test_generate_from_every_format(loaded_service, audio, tmp_path, name):
    output = tmp_path / f"{name}.npz"
    events = []
    job = loaded_service.send(Method.GENERATE, {"audio": str(audio[name]), "output": str(output)})
    result = result_of(loaded_service.wait_reply(job, events))
    motion = load_npz(output)
    frames = motion["exp"].shape[0]
    assert result["outputs"] == [str(output)] and result["frames"] == frames
    assert motion["exp"].shape == (frames, 50) and motion["pose"].shape == (frames, 6)
    assert motion["exp"].dtype == np.float32 and float(motion["fps"]) == 25.0
    assert str(motion["expression_space"]) == "flame" and motion["shape"].shape == (100,)
    assert abs(frames - result["duration"] * 25) <= 1
    settings = json.loads(str(motion["settings"]))
    assert settings["model"] == "tiny-service" and settings["sampler"] == "ddim" and settings["steps"] == 4
    # A model that reads audio features has no speech front-end, so no timed words.
    assert settings["speech"] is None and settings["words"] == [] and result["settings"]["words"] == []
    progress = [e["data"] for e in events if e["type"] == protocol.EVENT and e["event"] == EventName.PROGRESS]
    assert progress and all(e["id"] == job for e in events)
    stages = [p["stage"] for p in progress]
    assert stages[0] == "decode" and "denoise" in stages and stages[-1] == "write"
    fractions = [p["fraction"] for p in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert not [p for p in output.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("fps", [23.976, 24, 29.97, 30, 50, 60])
def test_generate_at_blender_frame_rates(loaded_service, audio, tmp_path, fps):
    output = tmp_path / "out.npz"
    params = {"audio": str(audio["flac"]), "output": str(output), "fps": fps, "seed": 3}
    result = result_of(loaded_service.call(Method.GENERATE, params))
    motion = load_npz(output)
    assert float(motion["fps"]) == pytest.approx(fps) and result["fps"] == pytest.approx(fps)
    base = result_of(loaded_service.call(Method.GENERATE, {**params, "fps": 25, "output": str(tmp_path / "b.npz")}))
    assert motion["exp"].shape[0] == max(1, round(base["frames"] * fps / 25))
    ref = load_npz(tmp_path / "b.npz")
    # the first frame is the same instant in both
    np.testing.assert_allclose(motion["exp"][0], ref["exp"][0], atol=1e-5)


def test_generate_part_of_the_audio_with_variations_and_head_scale(loaded_service, audio, tmp_path):
    output = tmp_path / "part.npz"
    params = {"audio": str(audio["long"]), "output": str(output), "start": 1.0, "end": 3.0, "n_variations": 2,
              "seed": 5}
    result = result_of(loaded_service.call(Method.GENERATE, params))
    assert result["duration"] == pytest.approx(2.0, abs=1e-3)
    assert result["outputs"] == [str(tmp_path / "part_1.npz"), str(tmp_path / "part_2.npz")]
    first, second = (load_npz(p) for p in result["outputs"])
    assert first["exp"].shape == (50, 50) and not np.allclose(first["exp"], second["exp"])
    still = tmp_path / "still.npz"
    result_of(loaded_service.call(Method.GENERATE, {**params, "output": str(still), "n_variations": 1,
                                                    "head_motion_scale": 0.0}))
    head = load_npz(still)["pose"][:, :3]
    assert np.abs(head - head.mean(axis=0)).max() < 1e-4
    assert np.abs(first["pose"][:, :3] - first["pose"][:, :3].mean(axis=0)).max() > 1e-3


def test_adjustments_of_generate_and_adjust_take(loaded_service, audio, tmp_path):
    from backend.model.adjustments import Adjustments, apply_adjustments

    params = {"audio": str(audio["long"]), "end": 4.0, "fps": 30.0, "seed": 2}
    plain, adjusted = tmp_path / "plain.npz", tmp_path / "adjusted.npz"
    result_of(loaded_service.call(Method.GENERATE, {**params, "output": str(plain)}))
    asked = {"jaw_scale": 1.5, "head_motion_scale": 0.5, "lip_sync_offset": 2, "smoothing": 0.5}
    result = result_of(loaded_service.call(Method.GENERATE, {**params, "output": str(adjusted), **asked}))
    assert {name: result["settings"][name] for name in asked} == asked
    assert result["settings"]["mouth_scale"] == 1.0
    take, raw = load_npz(adjusted), load_npz(plain)
    np.testing.assert_array_equal(take["raw_exp"], raw["exp"])  # the model's motion, kept to adjust again
    assert json.loads(str(take["settings"]))["lip_sync_offset"] == 2
    expected = apply_adjustments({"exp": raw["exp"], "pose": raw["pose"], "fps": 30.0, "expression_space": "flame"},
                                 Adjustments(jaw=1.5, head=0.5, lip_sync_offset=2, smoothing=0.5))
    np.testing.assert_allclose(take["pose"], expected["pose"], atol=1e-6)
    # The tiny model is FLAME: no mouth channels to scale.
    refused = loaded_service.call(Method.GENERATE, {**params, "output": str(tmp_path / "x.npz"), "mouth_scale": 0.5})
    assert error_code(refused) == ErrorCode.INVALID_PARAMS and refused["error"]["details"]["param"] == "mouth_scale"

    # adjust_take starts again from the raw motion: neutral values give the model's take back.
    again = tmp_path / "again.npz"
    result = result_of(loaded_service.call(Method.ADJUST_TAKE, {"take": str(adjusted), "output": str(again)}))
    assert result["outputs"] == [str(again)] and result["frames"] == len(raw["exp"]) and result["fps"] == 30.0
    assert result["settings"]["seed"] == 2 and result["settings"]["jaw_scale"] == 1.0
    np.testing.assert_array_equal(load_npz(again)["exp"], raw["exp"])
    np.testing.assert_array_equal(load_npz(again)["pose"], raw["pose"])
    result = result_of(loaded_service.call(Method.ADJUST_TAKE, {"take": str(again), "output": str(again), **asked}))
    np.testing.assert_allclose(load_npz(again)["pose"], take["pose"], atol=1e-6)
    assert result["elapsed"] < 1.0
    missing = loaded_service.call(Method.ADJUST_TAKE, {"take": str(tmp_path / "none.npz"), "output": str(again)})
    assert error_code(missing) == ErrorCode.FILE_NOT_FOUND
    refused = loaded_service.call(Method.ADJUST_TAKE, {"take": str(again), "output": str(again), "brow_scale": 2.0})
    assert error_code(refused) == ErrorCode.INVALID_PARAMS and "FLAME" in refused["error"]["message"]


def test_generate_is_deterministic_for_a_seed(loaded_service, audio, tmp_path):
    params = {"audio": str(audio["wav"]), "seed": 11}
    result_of(loaded_service.call(Method.GENERATE, {**params, "output": str(tmp_path / "a.npz")}))
    result_of(loaded_service.call(Method.GENERATE, {**params, "output": str(tmp_path / "b.npz")}))
    np.testing.assert_array_equal(load_npz(tmp_path / "a.npz")["exp"], load_npz(tmp_path / "b.npz")["exp"])


def test_every_kind_of_style(loaded_service, audio, tmp_path, flame_clip):
    vector = np.linspace(1, -1, 128).astype(np.float32)
    np.save(tmp_path / "style.npy", vector)
    clip = load_npz(flame_clip)
    styles = {
        "none": None,
        "preset": {"kind": "preset", "name": "calm"},
        "values": {"kind": "vector", "values": vector.tolist()},
        "file": {"kind": "vector", "path": str(tmp_path / "style.npy")},
        "clip": {"kind": "clip", "path": str(flame_clip), "start": 0.0, "end": 1.5},
        "motion": {"kind": "motion", "exp": clip["exp"].tolist(), "pose": clip["pose"].tolist(), "fps": 30.0,
                   "expression_space": "flame"},
    }
    outputs = {}
    for name, style in styles.items():
        output = tmp_path / f"{name}.npz"
        result_of(loaded_service.call(Method.GENERATE, {"audio": str(audio["wav"]), "output": str(output),
                                                        "style": style}))
        outputs[name] = load_npz(output)
        assert json.loads(str(outputs[name]["settings"]))["style"]["kind"] == (style or {"kind": "none"})["kind"]
    np.testing.assert_array_equal(outputs["values"]["exp"], outputs["file"]["exp"])
    assert not np.allclose(outputs["none"]["exp"], outputs["preset"]["exp"])


def test_style_errors(loaded_service, audio, tmp_path, arkit_clip):
    base = {"audio": str(audio["wav"]), "output": str(tmp_path / "o.npz")}
    unknown = loaded_service.call(Method.GENERATE, {**base, "style": {"kind": "preset", "name": "angry"}})
    assert error_code(unknown) == ErrorCode.INVALID_STYLE and "calm" in unknown["error"]["message"]
    wrong_space = loaded_service.call(Method.GENERATE, {**base, "style": {"kind": "clip", "path": str(arkit_clip)}})
    assert error_code(wrong_space) == ErrorCode.WRONG_EXPRESSION_SPACE
    assert wrong_space["error"]["details"] == {"clip_space": "arkit", "model_space": "flame"}
    missing = loaded_service.call(Method.GENERATE, {**base, "style": {"kind": "clip", "path": str(tmp_path / "x.npz")}})
    assert error_code(missing) == ErrorCode.FILE_NOT_FOUND
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    bad_vector = loaded_service.call(Method.GENERATE, {**base, "style": {"kind": "vector", "path": str(tmp_path / "bad.npy")}})
    assert error_code(bad_vector) == ErrorCode.INVALID_STYLE
    inline_wrong = loaded_service.call(Method.GENERATE, {**base, "style": {
        "kind": "motion", "exp": [[0.0] * 52], "pose": [[0.0] * 6], "fps": 25, "expression_space": "flame"}})
    assert error_code(inline_wrong) == ErrorCode.INVALID_STYLE
    short = loaded_service.call(Method.GENERATE, {**base, "style": {"kind": "vector", "values": [0.1] * 3}})
    assert error_code(short) == ErrorCode.INVALID_STYLE and "128 values" in short["error"]["message"]
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.parametrize(
    "name, code",
    [
        ("text", ErrorCode.NOT_AUDIO),
        ("zero_bytes", ErrorCode.NOT_AUDIO),
        ("corrupt", ErrorCode.CORRUPT_AUDIO),
        ("empty", ErrorCode.AUDIO_TOO_SHORT),
        ("short", ErrorCode.AUDIO_TOO_SHORT),
        ("hour", ErrorCode.AUDIO_TOO_LONG),
        ("missing", ErrorCode.FILE_NOT_FOUND),
    ],
)
def test_bad_audio_gets_a_clear_error(loaded_service, audio, tmp_path, name, code):
    path = audio[name] if name != "missing" else tmp_path / "missing.wav"
    output = tmp_path / "o.npz"
    message = loaded_service.call(Method.GENERATE, {"audio": str(path), "output": str(output)})
    assert error_code(message) == code
    # what went wrong (naming the file), then what to do
    text = message["error"]["message"]
    assert path.name in text and "; " in text, text
    assert not output.exists()
    if code == ErrorCode.AUDIO_TOO_LONG:
        assert message["error"]["details"]["limit"] <= protocol.MAX_AUDIO_SECONDS
        assert "limit" in message["error"]["message"]


def test_start_past_the_end_and_output_errors(loaded_service, audio, tmp_path):
    past = loaded_service.call(Method.GENERATE, {"audio": str(audio["wav"]), "output": str(tmp_path / "o.npz"),
                                                 "start": 30.0})
    assert error_code(past) == ErrorCode.AUDIO_TOO_SHORT and "past the end" in past["error"]["message"]
    suffix = loaded_service.call(Method.GENERATE, {"audio": str(audio["wav"]), "output": str(tmp_path / "o.txt")})
    assert error_code(suffix) == ErrorCode.INVALID_PARAMS
    existing = tmp_path / "exists.npz"
    existing.write_bytes(b"old")
    refused = loaded_service.call(Method.GENERATE, {"audio": str(audio["wav"]), "output": str(existing),
                                                    "overwrite": False})
    assert error_code(refused) == ErrorCode.OUTPUT_FAILED and existing.read_bytes() == b"old"
    sampler = loaded_service.call(Method.GENERATE, {"audio": str(audio["wav"]), "output": str(tmp_path / "o.npz"),
                                                    "sampler": "euler"})
    assert error_code(sampler) == ErrorCode.INVALID_PARAMS and "ddim" in sampler["error"]["message"]


def test_encode_style(loaded_service, flame_clip, arkit_clip, tmp_path):
    result = result_of(loaded_service.call(Method.ENCODE_STYLE, {
        "style": {"kind": "clip", "path": str(flame_clip)}, "output": str(tmp_path / "s.npy")}))
    vector = np.asarray(result["vector"])
    assert vector.shape == (128,) and np.all(np.isfinite(vector))
    np.testing.assert_allclose(np.load(tmp_path / "s.npy"), vector, rtol=1e-6)
    clip = load_npz(flame_clip)
    inline = result_of(loaded_service.call(Method.ENCODE_STYLE, {"style": {
        "kind": "motion", "exp": clip["exp"].tolist(), "pose": clip["pose"].tolist(), "fps": 30.0,
        "expression_space": "flame"}}))
    np.testing.assert_allclose(inline["vector"], vector, rtol=1e-5, atol=1e-6)
    assert inline["frames"] == 60
    wrong = loaded_service.call(Method.ENCODE_STYLE, {"style": {"kind": "clip", "path": str(arkit_clip)}})
    assert error_code(wrong) == ErrorCode.WRONG_EXPRESSION_SPACE


def test_the_models_step_limit_comes_with_its_info_and_is_checked_before_any_work(loaded_service, tmp_path):
    info = result_of(loaded_service.call(Method.STATUS))["model"]
    assert info["max_steps"] == 500
    # A missing audio file shows the check comes first: no decoding, no progress.
    base = {"audio": str(tmp_path / "not-yet.wav"), "output": str(tmp_path / "o.npz")}
    for params, needle in (({"steps": 501}, "at most 500"), ({"steps": 1000, "sampler": "ddim"}, "at most 500"),
                           ({"steps": 20, "sampler": "ddpm"}, "runs all 500 steps")):
        events = []
        message = loaded_service.call(Method.GENERATE, {**base, **params}, events)
        assert error_code(message) == ErrorCode.INVALID_PARAMS and needle in message["error"]["message"]
        assert message["error"]["details"] == {"param": "steps", "limit": 500}
        assert not [e for e in events if e.get("event") == EventName.PROGRESS]
    assert error_code(loaded_service.call(Method.GENERATE, {**base, "steps": 500})) == ErrorCode.FILE_NOT_FOUND


def test_huge_style_and_shape_values_are_refused_and_never_give_a_nan_take(loaded_service, audio, tmp_path):
    output = tmp_path / "o.npz"
    base = {"audio": str(audio["wav"]), "output": str(output)}
    np.save(tmp_path / "huge.npy", np.full(128, 1e20, np.float32))
    from_file = loaded_service.call(Method.GENERATE, {**base, "style": {"kind": "vector", "path": str(tmp_path / "huge.npy")}})
    assert error_code(from_file) == ErrorCode.INVALID_STYLE and "between -100 and 100" in from_file["error"]["message"]
    inline = loaded_service.call(Method.GENERATE, {**base, "style": {"kind": "vector", "values": [1e20] * 128}})
    assert error_code(inline) == ErrorCode.INVALID_PARAMS and inline["error"]["details"]["param"] == "style"
    shape = loaded_service.call(Method.GENERATE, {**base, "shape": [1e20] * 100})
    assert error_code(shape) == ErrorCode.INVALID_PARAMS and shape["error"]["details"]["param"] == "shape"
    clip = tmp_path / "wild.npz"
    np.savez(clip, exp=np.full((30, 50), 1e30, np.float32), pose=np.zeros((30, 6), np.float32), fps=np.float64(25),
             expression_space=np.str_("flame"))
    wild = loaded_service.call(Method.GENERATE, {**base, "style": {"kind": "clip", "path": str(clip)}})
    assert error_code(wild) == ErrorCode.INVALID_STYLE
    assert not output.exists()


@pytest.mark.parametrize("output", ["take\x00.npz", "take\ud800.npz"])
def test_an_output_path_that_is_no_file_name_is_invalid_params(loaded_service, audio, tmp_path, output):
    message = loaded_service.call(Method.GENERATE, {"audio": str(audio["wav"]), "output": str(tmp_path / output)})
    assert error_code(message) == ErrorCode.INVALID_PARAMS and message["error"]["details"]["param"] == "output"


def test_variations_are_written_all_or_none(loaded_service, audio, tmp_path):
    (tmp_path / "take_3.npz").mkdir()  # the last file of the set cannot be written
    params = {"audio": str(audio["wav"]), "output": str(tmp_path / "take.npz"), "n_variations": 3}
    assert error_code(loaded_service.call(Method.GENERATE, params)) == ErrorCode.OUTPUT_FAILED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take_3.npz"]
    (tmp_path / "take_3.npz").rmdir()
    outputs = result_of(loaded_service.call(Method.GENERATE, params))["outputs"]
    umask = os.umask(0)
    os.umask(umask)
    assert [os.stat(path).st_mode & 0o777 for path in outputs] == [0o666 & ~umask] * 3


def test_a_model_that_computes_nan_writes_nothing(service, audio, tmp_path):
    from safetensors.torch import load_file, save_file

    from helpers import tiny_checkpoint

    checkpoint = tiny_checkpoint(tmp_path / "nan")
    weights = load_file(str(checkpoint / "model.safetensors"))
    for key in weights:
        if key.startswith("denoising_net.motion_dec"):
            weights[key].fill_(float("nan"))
    save_file(weights, str(checkpoint / "model.safetensors"))
    proc = service("--checkpoint", str(checkpoint))
    loaded = proc.next_message()
    assert loaded["event"] == EventName.MODEL_LOADED, loaded
    output = tmp_path / "o.npz"
    message = proc.call(Method.GENERATE, {"audio": str(audio["wav"]), "output": str(output)})
    assert error_code(message) == ErrorCode.OUTPUT_FAILED and "NaN" in message["error"]["message"]
    assert not output.exists() and not list(tmp_path.glob(".*.tmp"))


def test_a_checkpoint_that_fails_to_load_leaves_the_loaded_model(service, checkpoint, audio, tmp_path):
    import shutil

    proc = service("--checkpoint", str(checkpoint))
    assert proc.next_message()["event"] == EventName.MODEL_LOADED
    truncated = shutil.copytree(checkpoint, tmp_path / "truncated")
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    huge = shutil.copytree(checkpoint, tmp_path / "huge")
    meta = json.loads((huge / "config.json").read_text())
    meta["config"]["denoiser"]["n_layers"] = 100000
    (huge / "config.json").write_text(json.dumps(meta))
    wrong_type = shutil.copytree(checkpoint, tmp_path / "wrong_type")
    meta["config"]["denoiser"] = "eight layers"
    (wrong_type / "config.json").write_text(json.dumps(meta))
    for broken, needle in ((truncated, "truncated"), (huge, "n_layers"), (wrong_type, "DenoiserConfig")):
        message = proc.call(Method.LOAD_MODEL, {"checkpoint": str(broken)})
        assert error_code(message) == ErrorCode.MODEL_LOAD_FAILED and needle in message["error"]["message"]
    assert result_of(proc.call(Method.STATUS))["model"]["checkpoint"] == str(checkpoint)
    result_of(proc.call(Method.GENERATE, {"audio": str(audio["wav"]), "output": str(tmp_path / "o.npz")}))


# ------------------------------------------------------------- busy, cancel, kill

def start_long_job(proc, audio, output):
    """A generate that runs for many seconds (500 DDPM steps per window); returns its id
    once it is denoising."""
    job = proc.send(Method.GENERATE, {"audio": str(audio["long"]), "output": str(output), "sampler": "ddpm"})
    while True:
        message = proc.next_message()
        assert message["type"] == protocol.EVENT, message
        if message["event"] == EventName.PROGRESS and message["data"]["stage"] == "denoise":
            return job


def test_second_job_is_refused_and_cancel_stops_the_first(loaded_service, audio, tmp_path):
    output = tmp_path / "long.npz"
    job = start_long_job(loaded_service, audio, output)
    events = []
    second = loaded_service.call(Method.GENERATE, {"audio": str(audio["wav"]), "output": str(tmp_path / "b.npz")},
                                 events)
    assert error_code(second) == ErrorCode.BUSY and second["error"]["details"]["running"] == job
    status = result_of(loaded_service.call(Method.STATUS, events=events))
    assert status["running"] == {"id": job, "method": Method.GENERATE}
    wrong = result_of(loaded_service.call(Method.CANCEL, {"id": "not-running"}, events))
    assert wrong["cancelled"] is False
    cancel = result_of(loaded_service.call(Method.CANCEL, {"id": job}, events))
    assert cancel == {"cancelled": True, "id": job}
    assert error_code(loaded_service.wait_reply(job)) == ErrorCode.CANCELLED
    assert not output.exists() and not list(tmp_path.glob(".*.tmp"))
    # the slot is free again
    result_of(loaded_service.call(Method.GENERATE, {"audio": str(audio["wav"]), "output": str(tmp_path / "c.npz")}))


def test_shutdown_during_a_job_cancels_it(service, checkpoint, audio, tmp_path):
    proc = service("--checkpoint", str(checkpoint))
    assert proc.next_message()["event"] == EventName.MODEL_LOADED
    output = tmp_path / "long.npz"
    start_long_job(proc, audio, output)
    result_of(proc.wait_reply(proc.send(Method.SHUTDOWN)))
    assert proc.proc.wait(timeout=60) == 0
    assert not output.exists()


def test_killing_the_process_mid_job_leaves_the_old_output_intact(service, checkpoint, audio, tmp_path):
    proc = service("--checkpoint", str(checkpoint))
    assert proc.next_message()["event"] == EventName.MODEL_LOADED
    output = tmp_path / "take.npz"
    output.write_bytes(b"previous take")
    start_long_job(proc, audio, output)
    os.kill(proc.proc.pid, signal.SIGKILL)
    proc.proc.wait(timeout=30)
    assert output.read_bytes() == b"previous take"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.npz"]


def test_logs_go_to_stderr(loaded_service):
    # every stdout line so far was decoded as a protocol message by next_message
    assert any("loaded tiny-service" in line for line in loaded_service.stderr)
