"""The wire protocol module: round trips, strict JSON, limits, parameter checks, fuzzing."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend import protocol as p
from backend.protocol import ErrorCode, Method, ProtocolError

from project import ROOT


def code_of(line) -> str:
    with pytest.raises(ProtocolError) as info:
        p.decode(line)
    return info.value.code


def test_imports_with_the_standard_library_only():
    script = ("import sys; import backend.protocol; "
              "heavy = {'numpy', 'torch', 'scipy', 'soundfile'} & set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_names_are_defined_once_and_unique():
    for names in (p.METHODS, p.EVENTS, p.ERROR_CODES):
        assert len(names) == len(set(names)) and all(isinstance(n, str) and n for n in names)
    assert set(p.PARAMS) == set(p.METHODS)
    assert {"load_model", "encode_style", "generate", "cancel", "shutdown"} <= set(p.METHODS)


@pytest.mark.parametrize("message", [
    p.request(1, Method.GENERATE, {"audio": "a.wav", "output": "o.npz", "style": None}),
    p.request("job-7", Method.STATUS),
    p.response("job-7", {"outputs": ["a.npz"], "fps": 29.97}),
    p.error(None, ErrorCode.PARSE_ERROR, "bad", {"line": 3}),
    p.event(p.EventName.HELLO, {"protocol": 1, "name": "caf\u00e9 \u2028 \U0001F600"}),
    p.progress("j", "denoise", 0, 2, 3, 10, 0.4),
])
def test_round_trip(message):
    line = p.encode(message)
    assert "\n" not in line and line.isascii()
    assert p.decode(line) == message
    assert p.decode(line.encode() + b"\n") == message


@pytest.mark.parametrize("line, code", [
    ("", ErrorCode.PARSE_ERROR),
    ("{", ErrorCode.PARSE_ERROR),
    ('{"v": 2, "type": "request", "id": 1, "method": "status", "params": {"x": NaN}}', ErrorCode.PARSE_ERROR),
    ('{"v": 2, "type": "request", "id": 1, "method": "status", "params": {"x": -Infinity}}', ErrorCode.PARSE_ERROR),
    ('{"v": 2, "type": "request", "id": 1, "method": "status", "params": {"x": 1e400}}', ErrorCode.PARSE_ERROR),
    ('{"v": 2, "type": "request", "id": 1, "method": "status", "params": {"x": 1, "x": 2}}', ErrorCode.PARSE_ERROR),
    ("[" * 100000 + "]" * 100000, ErrorCode.PARSE_ERROR),
    (b'{"v": 2, "type": "request", "id": 1, "method": "st\xc3atus"}', ErrorCode.PARSE_ERROR),
    ('"just a string"', ErrorCode.INVALID_REQUEST),
    ('{"v": true, "type": "request", "id": 1, "method": "status"}', ErrorCode.INVALID_REQUEST),
    ('{"v": 2, "type": "request", "id": true, "method": "status"}', ErrorCode.INVALID_REQUEST),
    ('{"v": 2, "type": "request", "id": "", "method": "status"}', ErrorCode.INVALID_REQUEST),
    ('{"v": 2, "type": "request", "id": 1, "method": "status", "params": []}', ErrorCode.INVALID_REQUEST),
    ('{"v": 2, "type": "request", "id": 1, "method": "status", "extra": 1}', ErrorCode.INVALID_REQUEST),
    ('{"v": 2, "type": "error", "id": 1, "error": {"code": "x"}}', ErrorCode.INVALID_REQUEST),
    ('{"v": 2, "type": "shout", "id": 1}', ErrorCode.INVALID_REQUEST),
    ('{"v": 99, "type": "request", "id": 1, "method": "status"}', ErrorCode.VERSION_MISMATCH),
])
def test_malformed_lines(line, code):
    assert code_of(line) == code


def test_the_request_id_is_kept_when_it_could_be_read():
    with pytest.raises(ProtocolError) as info:
        p.decode('{"v": 99, "type": "request", "id": "abc", "method": "status"}')
    assert info.value.request_id == "abc" and info.value.to_message()["id"] == "abc"


def test_size_cap_both_ways():
    big = "x" * p.MAX_MESSAGE_BYTES
    assert code_of(json.dumps(p.request(1, Method.STATUS, {"x": big}))) == ErrorCode.MESSAGE_TOO_LARGE
    with pytest.raises(ProtocolError) as info:
        p.encode(p.response(1, {"x": big}))
    assert info.value.code == ErrorCode.MESSAGE_TOO_LARGE


def test_encode_refuses_nan_and_non_json():
    for bad in (float("nan"), float("inf"), object()):
        with pytest.raises(ProtocolError):
            p.encode(p.response(1, {"x": bad}))


def test_generate_defaults_and_normalisation():
    params = p.validate_params(Method.GENERATE, {"audio": "a.wav", "output": "o.npz", "fps": 30, "seed": 4})
    assert params["fps"] == 30.0 and isinstance(params["fps"], float)
    assert params["audio_scale"] is None and params["style_scale"] is None and params["n_variations"] == 1
    assert params["style"] is None and params["steps"] is None and params["overwrite"] is True


@pytest.mark.parametrize("params, param", [
    ({"audio": "a.wav"}, "output"),
    ({"audio": "a.wav", "output": "o.npz", "fps": -1}, "fps"),
    ({"audio": "a.wav", "output": "o.npz", "fps": 1000}, "fps"),
    ({"audio": "a.wav", "output": "o.npz", "steps": 2.5}, "steps"),
    ({"audio": "a.wav", "output": "o.npz", "seed": True}, "seed"),
    ({"audio": "a.wav", "output": "o.npz", "seed": -1}, "seed"),
    ({"audio": "a.wav", "output": "o.npz", "audio_scale": -0.5}, "audio_scale"),
    ({"audio": "a.wav", "output": "o.npz", "style_scale": 21}, "style_scale"),
    ({"audio": "a.wav", "output": "o.npz", "start": -0.5}, "start"),
    ({"audio": "a.wav", "output": "o.npz", "end": 0}, "end"),
    ({"audio": "a.wav", "output": "o.npz", "style": {"kind": "preset"}}, "style"),
    ({"audio": "a.wav", "output": "o.npz", "style": {"kind": "vector", "values": [0] * 128, "path": "s.npy"}}, "style"),
    ({"audio": "a.wav", "output": "o.npz", "style": {"kind": "clip", "path": "c.npz", "start": 3, "end": 1}}, "style"),
    ({"audio": "a.wav", "output": "o.npz", "style": {"kind": "motion", "exp": [[0] * 50], "pose": [[0] * 5],
                                                     "fps": 25, "expression_space": "flame"}}, "style"),
    ({"audio": "a.wav", "output": "o.npz", "style": {"kind": "motion", "exp": [[0] * 50] * 2, "pose": [[0] * 6],
                                                     "fps": 25, "expression_space": "flame"}}, "style"),
    ({"audio": "a.wav", "output": "o.npz", "style": {"kind": "none", "name": "x"}}, "style"),
    ({"audio": "a.wav", "output": "o.npz", "dynamic_threshold": 1.0}, "dynamic_threshold"),
])
def test_invalid_generate_params_name_the_parameter(params, param):
    with pytest.raises(ProtocolError) as info:
        p.validate_params(Method.GENERATE, params, "id-1")
    assert info.value.code == ErrorCode.INVALID_PARAMS
    assert info.value.details["param"] == param and info.value.request_id == "id-1"


@pytest.mark.parametrize("value, needle", [
    ("x" * (p.MAX_STRING_LENGTH + 1), f"over the {p.MAX_STRING_LENGTH}-character limit"),
    ("out\x00.npz", "NUL character"),
    ("out\ud800.npz", "lone surrogate"),
])
def test_unusable_strings_say_what_is_wrong(value, needle):
    for params in ({"output": value}, {"transcript": value}, {"style": {"kind": "clip", "path": value}}):
        with pytest.raises(ProtocolError) as info:
            p.validate_params(Method.GENERATE, {"audio": "a.wav", "output": "o.npz", **params})
        assert info.value.code == ErrorCode.INVALID_PARAMS and needle in info.value.message
        assert "got str" not in info.value.message
    line = json.dumps(p.request(1, Method.LOAD_MODEL, {"checkpoint": value}))
    with pytest.raises(ProtocolError) as info:
        p.validate_params(Method.LOAD_MODEL, p.decode(line)["params"])
    assert needle in info.value.message and info.value.details["param"] == "checkpoint"


def test_a_string_at_the_limit_is_fine():
    text = "\U0001F600" * p.MAX_STRING_LENGTH
    assert p.validate_params(Method.GENERATE, {"audio": "a.wav", "output": "o.npz", "transcript": text})["transcript"] == text


@pytest.mark.parametrize("params", [
    {"shape": [0.0] * 99 + [1e20]},
    {"shape": [-(p.MAX_SHAPE_VALUE + 1)] + [0.0] * 99},
    {"style": {"kind": "vector", "values": [1e20] * 128}},
    {"style": {"kind": "vector", "values": [0.0] * 127 + [p.MAX_STYLE_VALUE * 1.01]}},
])
def test_out_of_range_style_and_shape_values_are_refused(params):
    with pytest.raises(ProtocolError) as info:
        p.validate_params(Method.GENERATE, {"audio": "a.wav", "output": "o.npz", **params})
    assert info.value.code == ErrorCode.INVALID_PARAMS and "must lie between" in info.value.message
    assert info.value.details["param"] in params


def test_unknown_method():
    with pytest.raises(ProtocolError) as info:
        p.validate_params("explode", {})
    assert info.value.code == ErrorCode.UNKNOWN_METHOD and "generate" in info.value.message


# --------------------------------------------------------------------- fuzzing

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.binary()))
def test_fuzz_decode_raises_only_protocol_errors(line):
    try:
        message = p.decode(line)
    except ProtocolError as exc:
        assert exc.code in p.ERROR_CODES
    else:
        assert message["v"] == p.PROTOCOL_VERSION


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(p.MESSAGE_TYPES), st.one_of(st.none(), st.integers(), st.text()),
       st.dictionaries(st.sampled_from(["v", "type", "id", "method", "params", "result", "error", "event", "data", "x"]),
                       json_values, max_size=6))
def test_fuzz_envelopes(kind, request_id, fields):
    message = {"v": 2, "type": kind, "id": request_id, **fields}
    line = json.dumps(message)
    try:
        decoded = p.decode(line)
    except ProtocolError as exc:
        assert exc.code in p.ERROR_CODES
        return
    # whatever decodes re-encodes to the same message
    assert p.decode(p.encode(decoded)) == decoded


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(p.METHODS), st.dictionaries(
    st.sampled_from(["audio", "output", "style", "fps", "seed", "steps", "start", "end", "checkpoint", "id",
                     "n_variations", "shape", "overwrite", "sampler", "other"]), json_values, max_size=6))
def test_fuzz_params(method, params):
    try:
        checked = p.validate_params(method, params)
    except ProtocolError as exc:
        assert exc.code == ErrorCode.INVALID_PARAMS and exc.details.get("param")
    else:
        assert set(checked) == set(p.PARAMS[method])
        p.encode(p.request(1, method, checked))  # still valid JSON to send on


NUMERIC_GENERATE_PARAMS = [(name, field) for name, field in p.PARAMS[Method.GENERATE].items()
                           if field.kind in ("number", "integer") and field.high is not None]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(NUMERIC_GENERATE_PARAMS), st.data())
def test_fuzz_generate_ranges(named_field, data):
    name, field = named_field
    span = field.high - field.low
    if field.kind == "integer":
        value = data.draw(st.integers(field.low - 3, field.high + 3) | st.integers(-2**63, 2**63))
    else:
        value = data.draw(st.floats(field.low - span, field.high + span, allow_nan=False)
                          | st.sampled_from([field.low, field.high, math.nextafter(field.high, math.inf),
                                             math.nextafter(field.low, -math.inf)]))
    inside = field.low <= value <= field.high and not (field.low_open and value == field.low)
    try:
        checked = p.validate_params(Method.GENERATE, {"audio": "a.wav", "output": "o.npz", name: value})
    except ProtocolError as exc:
        assert not inside, f"{name}={value!r} is within [{field.low}, {field.high}] but was refused"
        assert exc.code == ErrorCode.INVALID_PARAMS and exc.details["param"] == name
    else:
        assert inside, f"{name}={value!r} is outside [{field.low}, {field.high}] but was accepted"
        assert checked[name] == value


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["shape", "values"]), st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1,
                                                        max_size=4), st.integers(0, 99))
def test_fuzz_style_and_shape_values(kind, values, at):
    size, limit = (p.SHAPE_DIM, p.MAX_SHAPE_VALUE) if kind == "shape" else (128, p.MAX_STYLE_VALUE)
    vector = [0.0] * size
    vector[at:at + len(values)] = values
    vector = vector[:size]
    params = {"shape": vector} if kind == "shape" else {"style": {"kind": "vector", "values": vector}}
    try:
        p.validate_params(Method.GENERATE, {"audio": "a.wav", "output": "o.npz", **params})
    except ProtocolError as exc:
        assert max(abs(x) for x in vector) > limit and exc.details["param"] in params
    else:
        assert max(abs(x) for x in vector) <= limit


def test_keep_is_normalized():
    base = {"audio": "a.wav", "output": "o.npz"}
    assert p.validate_params(Method.GENERATE, base)["keep"] is None
    params = p.validate_params(Method.GENERATE, {**base, "keep": {"take": "t.npz", "regenerate": [1, 2.5]}})
    assert params["keep"] == {"take": "t.npz", "regenerate": [1.0, 2.5]}
    params = p.validate_params(Method.GENERATE, {**base, "keep": {"take": "t.npz", "frames": [30, 4, 30]}})
    assert params["keep"] == {"take": "t.npz", "frames": [4, 30]}
    params = p.validate_params(Method.GENERATE, {**base, "keep": {"take": "t.npz", "frames": [4], "blend": 6}})
    assert params["keep"] == {"take": "t.npz", "frames": [4], "blend": 6}
    params = p.validate_params(Method.GENERATE, {**base, "keep": {"take": "t.npz", "frames": [4], "blend": 0}})
    assert params["keep"] == {"take": "t.npz", "frames": [4]}, "blend 0 is no blend, as before it existed"


@pytest.mark.parametrize("keep, param, needle", [
    ("t.npz", "keep", "must be an object"),
    ({"regenerate": [0, 1]}, "keep", '"take"'),
    ({"take": "", "regenerate": [0, 1]}, "keep", '"take"'),
    ({"take": "t.npz"}, "keep", "exactly one"),
    ({"take": "t.npz", "regenerate": [0, 1], "frames": [3]}, "keep", "exactly one"),
    ({"take": "t.npz", "regenerate": [2, 1]}, "keep", "start < end"),
    ({"take": "t.npz", "regenerate": [-1, 1]}, "keep", "start < end"),
    ({"take": "t.npz", "regenerate": [1]}, "keep", "2 numbers"),
    ({"take": "t.npz", "frames": []}, "keep", "non-empty"),
    ({"take": "t.npz", "frames": [1.5]}, "keep", "frame numbers"),
    ({"take": "t.npz", "frames": [True]}, "keep", "frame numbers"),
    ({"take": "t.npz", "frames": [-2]}, "keep", "frame numbers"),
    ({"take": "t.npz", "range": [0, 1]}, "keep", "unknown field"),
    ({"take": "t\x00.npz", "frames": [1]}, "keep", "NUL"),
    ({"take": "t.npz", "regenerate": [0, 1], "blend": 3}, "keep", "goes with keep.frames"),
    ({"take": "t.npz", "frames": [1], "blend": -1}, "keep", "whole number of frames"),
    ({"take": "t.npz", "frames": [1], "blend": 2.5}, "keep", "whole number of frames"),
    ({"take": "t.npz", "frames": [1], "blend": True}, "keep", "whole number of frames"),
    ({"take": "t.npz", "frames": [1], "blend": p.MAX_KEEP_BLEND_FRAMES + 1}, "keep", "whole number of frames"),
])
def test_invalid_keep_says_what_is_wrong(keep, param, needle):
    with pytest.raises(ProtocolError) as info:
        p.validate_params(Method.GENERATE, {"audio": "a.wav", "output": "o.npz", "keep": keep})
    assert info.value.code == ErrorCode.INVALID_PARAMS and info.value.details["param"] == param
    assert needle in info.value.message


def test_a_style_vector_may_have_any_length_up_to_the_limit_the_model_decides():
    for length in (128, 236):
        checked = p.validate_params(Method.GENERATE, {"audio": "a.wav", "output": "o.npz",
                                                      "style": {"kind": "vector", "values": [0.5] * length}})
        assert len(checked["style"]["values"]) == length
    for length in (0, p.MAX_STYLE_DIM + 1):
        with pytest.raises(ProtocolError, match="style"):
            p.validate_params(Method.GENERATE, {"audio": "a.wav", "output": "o.npz",
                                                "style": {"kind": "vector", "values": [0.5] * length}})


def test_adjustments_are_parameters_of_generate_and_adjust_take():
    for method in (Method.GENERATE, Method.ADJUST_TAKE):
        base = {"audio": "a.wav", "output": "o.npz"} if method == Method.GENERATE else {"take": "t.npz",
                                                                                        "output": "o.npz"}
        params = p.validate_params(method, base)
        assert {name: params[name] for name in p.ADJUSTMENTS} == {
            "mouth_scale": 1.0, "jaw_scale": 1.0, "brow_scale": 1.0, "eye_scale": 1.0, "head_motion_scale": 1.0,
            "lip_sync_offset": 0, "smoothing": 0.0}
        for name, value in (("jaw_scale", p.MAX_REGION_SCALE + 0.1), ("smoothing", -0.1),
                            ("lip_sync_offset", p.MAX_LIP_SYNC_OFFSET_FRAMES + 1), ("lip_sync_offset", 1.5)):
            with pytest.raises(ProtocolError) as info:
                p.validate_params(method, {**base, name: value})
            assert info.value.code == ErrorCode.INVALID_PARAMS and info.value.details["param"] == name
    # The take is edited from its raw motion, so a head scale goes with keep too.
    params = p.validate_params(Method.GENERATE, {"audio": "a.wav", "output": "o.npz", "head_motion_scale": 0.5,
                                                 "keep": {"take": "t.npz", "frames": [0]}})
    assert params["head_motion_scale"] == 0.5
