"""Wire protocol between the Blender add-on and ``python -m backend serve``.

Standard library only (and the stdlib-only ``timebase``): Blender's Python imports this
module through the add-on.
``docs/protocol.md`` is the normative description; a wire change updates that document
and ``PROTOCOL_VERSION`` together.

Transport: JSON Lines over the backend's stdin (requests) and stdout (responses, errors,
events), UTF-8, one object per line, at most ``MAX_MESSAGE_BYTES`` per line. Every
message is an envelope carrying ``"v": PROTOCOL_VERSION`` and a ``type``:

- request  ``{"v", "type": "request", "id", "method", "params"}``
- response ``{"v", "type": "response", "id", "result"}``
- error    ``{"v", "type": "error", "id", "error": {"code", "message", "details"}}``
- event    ``{"v", "type": "event", "event", "id", "data"}``

JSON is strict both ways: NaN and infinities, duplicate keys and oversized lines are
rejected, so a message means the same thing to every reader.
"""
from __future__ import annotations

import json
import math

from .timebase import FPS

PROTOCOL_VERSION = 2
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
MAX_ID_LENGTH = 128
MAX_STRING_LENGTH = 8192
# Seconds the service gives a cancelled job to stop after ``shutdown`` before it exits; a
# client waits at least this long for the exit before it terminates the process.
SHUTDOWN_GRACE_SECONDS = 5.0

REQUEST = "request"
RESPONSE = "response"
ERROR = "error"
EVENT = "event"
MESSAGE_TYPES = (REQUEST, RESPONSE, ERROR, EVENT)


class Method:
    LOAD_MODEL = "load_model"
    ENCODE_STYLE = "encode_style"
    GENERATE = "generate"
    ADJUST_TAKE = "adjust_take"
    CANCEL = "cancel"
    STATUS = "status"
    SHUTDOWN = "shutdown"


class EventName:
    HELLO = "hello"
    PROGRESS = "progress"
    MODEL_LOADED = "model_loaded"
    MODEL_ERROR = "model_error"


class ErrorCode:
    PARSE_ERROR = "parse_error"
    MESSAGE_TOO_LARGE = "message_too_large"
    INVALID_REQUEST = "invalid_request"
    VERSION_MISMATCH = "version_mismatch"
    UNKNOWN_METHOD = "unknown_method"
    INVALID_PARAMS = "invalid_params"
    FILE_NOT_FOUND = "file_not_found"
    NOT_AUDIO = "not_audio"
    CORRUPT_AUDIO = "corrupt_audio"
    AUDIO_TOO_SHORT = "audio_too_short"
    AUDIO_TOO_LONG = "audio_too_long"
    INVALID_STYLE = "invalid_style"
    WRONG_EXPRESSION_SPACE = "wrong_expression_space"
    NO_MODEL = "no_model"
    MODEL_LOAD_FAILED = "model_load_failed"
    BUSY = "busy"
    CANCELLED = "cancelled"
    OUTPUT_FAILED = "output_failed"
    INTERNAL = "internal_error"


METHODS = tuple(v for k, v in vars(Method).items() if not k.startswith("_"))
EVENTS = tuple(v for k, v in vars(EventName).items() if not k.startswith("_"))
ERROR_CODES = tuple(v for k, v in vars(ErrorCode).items() if not k.startswith("_"))

# Generation limits the service enforces (and reports in ``hello``). The model may
# lower the audio limit (``max_audio_seconds`` in its info).
MIN_AUDIO_SECONDS = 0.1
MAX_AUDIO_SECONDS = 3600.0
MAX_VARIATIONS = 16
MAX_STEPS = 1000
MAX_FPS = 240.0
# A style vector's length is the loaded model's ``style_dim`` (128 for the released models);
# a message may carry at most this many values.
MAX_STYLE_DIM = 4096
SHAPE_DIM = 100
MAX_CLIP_FRAMES = int(FPS * 600)  # ten minutes of motion
# Largest magnitude of a style value and of a FLAME shape coefficient. Style vectors of a
# model's encoder and presets stay within a few units and shapes within about 5 standard
# deviations; far larger values overflow the network into NaN.
MAX_STYLE_VALUE = 100.0
MAX_SHAPE_VALUE = 100.0
# Animator adjustments of a take (``backend/model/adjustments.py``): region intensities
# from 0 (held at the neutral) to MAX_REGION_SCALE, the head's up to
# MAX_HEAD_MOTION_SCALE, the lip-sync offset in frames of the take's own rate, and the
# smoothing strength 0..1, whose full strength is a Gaussian of SMOOTHING_SECONDS.
MAX_REGION_SCALE = 2.0
MAX_HEAD_MOTION_SCALE = 5.0
MAX_LIP_SYNC_OFFSET_FRAMES = 50
MAX_KEEP_BLEND_FRAMES = 50  # keep.blend: frames over which a kept frame's difference fades into the new ones
SMOOTHING_SECONDS = 0.08
# Stages of a generate job, in order, as progress events name them.
STAGES = ("decode", "audio", "denoise", "write")


class ProtocolError(Exception):
    """A message or its parameters are unacceptable; becomes an ``error`` message.

    ``request_id`` is the id of the offending request when it could be read, so the
    client can match the error to what it sent.
    """

    def __init__(self, code: str, message: str, details: dict | None = None, request_id=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.request_id = request_id

    def to_message(self) -> dict:
        return error(self.request_id, self.code, self.message, self.details)


# ---------------------------------------------------------------------------- builders

def request(request_id, method: str, params: dict | None = None) -> dict:
    return {"v": PROTOCOL_VERSION, "type": REQUEST, "id": request_id, "method": method, "params": params or {}}


def response(request_id, result: dict | None = None) -> dict:
    return {"v": PROTOCOL_VERSION, "type": RESPONSE, "id": request_id, "result": result or {}}


def error(request_id, code: str, message: str, details: dict | None = None) -> dict:
    return {
        "v": PROTOCOL_VERSION,
        "type": ERROR,
        "id": request_id,
        "error": {"code": code, "message": message, "details": details or {}},
    }


def event(name: str, data: dict | None = None, request_id=None) -> dict:
    return {"v": PROTOCOL_VERSION, "type": EVENT, "event": name, "id": request_id, "data": data or {}}


def progress(request_id, stage: str, window: int, n_windows: int, step: int, n_steps: int, fraction: float) -> dict:
    data = {
        "stage": stage,
        "window": window,
        "n_windows": n_windows,
        "step": step,
        "n_steps": n_steps,
        "fraction": min(1.0, max(0.0, float(fraction))),
    }
    return event(EventName.PROGRESS, data, request_id)


# ------------------------------------------------------------------- encode / decode

def encode(message: dict) -> str:
    """One line of strict JSON (no newline at the end); raises ProtocolError if invalid."""
    _check_envelope(message)
    try:
        line = json.dumps(message, allow_nan=False, ensure_ascii=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ProtocolError(
            ErrorCode.INTERNAL,
            f"message is not strict JSON ({exc}); send only finite numbers, strings, lists and dicts",
        ) from None
    if len(line) + 1 > MAX_MESSAGE_BYTES:
        raise ProtocolError(
            ErrorCode.MESSAGE_TOO_LARGE,
            f"message is {len(line) + 1} bytes, over the {MAX_MESSAGE_BYTES}-byte limit; "
            "pass large data as a file path instead",
            {"size": len(line) + 1, "limit": MAX_MESSAGE_BYTES},
        )
    return line


def decode(line) -> dict:
    """Parse and check one line (str or bytes) into an envelope dict.

    Raises ProtocolError with code parse_error, message_too_large, invalid_request or
    version_mismatch; never any other exception.
    """
    if isinstance(line, (bytes, bytearray)):
        if len(line) > MAX_MESSAGE_BYTES:
            raise _too_large(len(line))
        try:
            line = bytes(line).decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(ErrorCode.PARSE_ERROR, "message is not UTF-8; send UTF-8 encoded JSON") from None
    if not isinstance(line, str):
        raise ProtocolError(ErrorCode.PARSE_ERROR, "message must be a line of text")
    if len(line) > MAX_MESSAGE_BYTES or len(line.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES:
        raise _too_large(len(line.encode("utf-8", "surrogatepass")))
    text = line.strip()
    if not text:
        raise ProtocolError(ErrorCode.PARSE_ERROR, "empty line; send one JSON object per line")
    try:
        message = json.loads(
            text,
            object_pairs_hook=_no_duplicate_keys,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except ProtocolError:
        raise
    except RecursionError:
        raise ProtocolError(ErrorCode.PARSE_ERROR, "message is nested too deeply; flatten it") from None
    except ValueError as exc:
        raise ProtocolError(
            ErrorCode.PARSE_ERROR, f"message is not valid JSON ({exc}); send one JSON object per line"
        ) from None
    _check_envelope(message)
    return message


def _too_large(size: int) -> ProtocolError:
    return ProtocolError(
        ErrorCode.MESSAGE_TOO_LARGE,
        f"message is {size} bytes, over the {MAX_MESSAGE_BYTES}-byte limit; pass large data as a file path instead",
        {"size": size, "limit": MAX_MESSAGE_BYTES},
    )


def _no_duplicate_keys(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ProtocolError(
                ErrorCode.PARSE_ERROR, f"duplicate key {key!r} in a JSON object; send each key once", {"key": key}
            )
        result[key] = value
    return result


def _reject_constant(name):
    raise ProtocolError(ErrorCode.PARSE_ERROR, f"{name} is not allowed; send finite numbers only", {"value": name})


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ProtocolError(ErrorCode.PARSE_ERROR, f"number {text} is out of range; send finite numbers only")
    return value


def _is_id(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**53) <= value <= 2**53
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH


def _check_envelope(message) -> None:
    if not isinstance(message, dict):
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "message must be a JSON object")
    raw_id = message.get("id")
    request_id = raw_id if _is_id(raw_id) else None

    def invalid(text, code=ErrorCode.INVALID_REQUEST, details=None):
        return ProtocolError(code, text, details, request_id)

    version = message.get("v")
    if isinstance(version, bool) or not isinstance(version, int):
        raise invalid(f'message needs "v": {PROTOCOL_VERSION} (the protocol version)')
    if version != PROTOCOL_VERSION:
        raise invalid(
            f"protocol version {version} is not supported; this backend speaks version {PROTOCOL_VERSION}: "
            "update the add-on and the backend together",
            ErrorCode.VERSION_MISMATCH,
            {"got": version, "supported": PROTOCOL_VERSION},
        )
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        raise invalid(f'"type" must be one of {", ".join(MESSAGE_TYPES)}')
    fields = {
        REQUEST: ("v", "type", "id", "method", "params"),
        RESPONSE: ("v", "type", "id", "result"),
        ERROR: ("v", "type", "id", "error"),
        EVENT: ("v", "type", "event", "id", "data"),
    }[kind]
    unknown = sorted(set(message) - set(fields))
    if unknown:
        raise invalid(f"unknown field(s) {', '.join(unknown)} in a {kind}; allowed: {', '.join(fields)}")
    if kind in (REQUEST, RESPONSE) and not _is_id(raw_id):
        raise invalid(f'a {kind} needs an "id": a non-empty string (at most {MAX_ID_LENGTH} chars) or an integer')
    if kind in (ERROR, EVENT) and raw_id is not None and not _is_id(raw_id):
        raise invalid(f'"id" of an {kind} must be null, a string or an integer')
    if kind == REQUEST:
        if not isinstance(message.get("method"), str):
            raise invalid('a request needs a "method" string')
        if not isinstance(message.setdefault("params", {}), dict):
            raise invalid('"params" must be a JSON object')
    elif kind == RESPONSE:
        if not isinstance(message.get("result"), dict):
            raise invalid('a response needs a "result" object')
    elif kind == ERROR:
        body = message.get("error")
        if not (
            isinstance(body, dict)
            and set(body) == {"code", "message", "details"}
            and isinstance(body["code"], str)
            and isinstance(body["message"], str)
            and isinstance(body["details"], dict)
        ):
            raise invalid('an error needs "error": {"code": str, "message": str, "details": object}')
    elif kind == EVENT:
        if not isinstance(message.get("event"), str) or not isinstance(message.get("data"), dict):
            raise invalid('an event needs an "event" string and a "data" object')


# ------------------------------------------------------------------------- parameters

class Field:
    """One request parameter: its JSON type, default and allowed values."""

    def __init__(self, kind, *, required=False, default=None, nullable=True, low=None, high=None,
                 low_open=False, check=None, doc=""):
        self.kind = kind  # "string" | "number" | "integer" | "boolean" | "id" | "any"
        self.required = required
        self.default = default
        self.nullable = nullable and not required
        self.low, self.high, self.low_open = low, high, low_open
        self.check = check  # extra validation: value -> normalized value (raises ValueError)
        self.doc = doc


def _type_ok(kind, value) -> bool:
    if kind == "any":
        return True
    if kind == "id":
        return _is_id(value)
    if isinstance(value, bool):
        return kind == "boolean"
    return {
        "string": lambda v: isinstance(v, str),
        "number": lambda v: isinstance(v, (int, float)) and math.isfinite(v),
        "integer": lambda v: isinstance(v, int),
        "boolean": lambda v: False,
    }[kind](value)


def check_text(value, what="the text") -> str:
    """``value`` if it is text the service can use as a path or a transcript; raises ValueError.

    Refused: over ``MAX_STRING_LENGTH`` characters, a NUL character (no path can hold one)
    and a lone UTF-16 surrogate (JSON can carry one, but it encodes to no file name or text).
    """
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    if len(value) > MAX_STRING_LENGTH:
        raise ValueError(f"{what} is {len(value)} characters long, over the {MAX_STRING_LENGTH}-character limit; "
                         "shorten it")
    if "\x00" in value:
        raise ValueError(f"{what} contains a NUL character (\\u0000); remove it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} contains a lone surrogate (\\ud800-\\udfff without its pair), which is not "
                         "text; send valid Unicode") from None
    return value


def _numbers(value, length=None, what="values", limit=None):
    if not isinstance(value, list) or not all(_type_ok("number", x) for x in value):
        raise ValueError(f"{what} must be a list of numbers")
    if length is not None and len(value) != length:
        raise ValueError(f"{what} must have {length} numbers, got {len(value)}")
    if limit is not None:
        index = next((i for i, x in enumerate(value) if abs(x) > limit), None)
        if index is not None:
            raise ValueError(f"{what} must lie between -{limit:g} and {limit:g}, got {value[index]:g} at index "
                             f"{index}")
    return [float(x) for x in value]


def _matrix(value, width, what):
    if not isinstance(value, list) or not value:
        raise ValueError(f"{what} must be a non-empty list of frames")
    if len(value) > MAX_CLIP_FRAMES:
        raise ValueError(f"{what} has {len(value)} frames, over the {MAX_CLIP_FRAMES}-frame limit")
    return [_numbers(row, width, f"each frame of {what}") for row in value]


def _time_range(spec):
    start, end = spec.get("start"), spec.get("end")
    for name, value in (("start", start), ("end", end)):
        if value is not None and (not _type_ok("number", value) or value < 0):
            raise ValueError(f"{name} must be a number of seconds >= 0")
    if start is not None and end is not None and end <= start:
        raise ValueError("end must be after start")


STYLE_KINDS = ("none", "preset", "vector", "clip", "motion")
_STYLE_FIELDS = {
    "none": ("kind",),
    "preset": ("kind", "name"),
    "vector": ("kind", "values", "path"),
    "clip": ("kind", "path", "start", "end"),
    "motion": ("kind", "exp", "pose", "fps", "expression_space"),
}


def check_style(spec, kinds=STYLE_KINDS):
    """Validate a style object; returns it with numbers as floats. Raises ValueError."""
    if spec is None:
        return {"kind": "none"} if "none" in kinds else _style_error(kinds)
    if not isinstance(spec, dict) or spec.get("kind") not in kinds:
        _style_error(kinds)
    kind = spec["kind"]
    extra = sorted(set(spec) - set(_STYLE_FIELDS[kind]))
    if extra:
        raise ValueError(f"unknown field(s) {', '.join(extra)} for a {kind!r} style")
    spec = dict(spec)
    if kind == "preset" and not (isinstance(spec.get("name"), str) and spec["name"]):
        raise ValueError('a "preset" style needs "name": one of the presets listed in the model info')
    if kind == "vector":
        if ("values" in spec) == ("path" in spec):
            raise ValueError('a "vector" style needs either "values" (the model\'s style_dim numbers) or "path" '
                             '(a .npy file)')
        if "values" in spec:
            spec["values"] = _numbers(spec["values"], None, "style values", MAX_STYLE_VALUE)
            if not 1 <= len(spec["values"]) <= MAX_STYLE_DIM:
                raise ValueError(f"style values must have 1 to {MAX_STYLE_DIM} numbers (the model's style_dim), "
                                 f"got {len(spec['values'])}")
        elif not spec["path"]:
            raise ValueError('"path" must be a file path')
        else:
            check_text(spec["path"], "the style path")
    if kind == "clip":
        if not spec.get("path"):
            raise ValueError('a "clip" style needs "path": a motion .npz file (exp, pose, fps, expression_space)')
        check_text(spec["path"], "the clip path")
        _time_range(spec)
    if kind == "motion":
        spec["exp"] = _matrix(spec.get("exp"), None, "exp")
        spec["pose"] = _matrix(spec.get("pose"), 6, "pose")
        if len(spec["exp"]) != len(spec["pose"]):
            raise ValueError("exp and pose must have the same number of frames")
        if not (_type_ok("number", spec.get("fps")) and 0 < spec["fps"] <= MAX_FPS):
            raise ValueError(f'a "motion" style needs "fps": a frame rate in (0, {MAX_FPS}]')
        if not isinstance(spec.get("expression_space"), str):
            raise ValueError('a "motion" style needs "expression_space" ("flame" or "arkit")')
    return spec


def _style_error(kinds):
    raise ValueError(f'style must be an object with "kind" one of {", ".join(kinds)}')


KEEP_MODES = ("regenerate", "frames")


def check_keep(spec):
    """Validate a ``keep`` object (inpainting); returns it normalized. Raises ValueError.

    ``{"take": path, "regenerate": [start, end]}``: seconds of the take (0 = its first
    frame) to generate again, the rest of it kept; ``{"take": path, "frames": [...]}``:
    frames of the take (at its own frame rate) to keep, the rest generated again, with
    ``blend`` (frames, optional) over which each kept frame's difference from the new motion
    next to it fades out into it.
    """
    if not isinstance(spec, dict):
        raise ValueError('keep must be an object: {"take": path, "regenerate": [start, end]} or '
                         '{"take": path, "frames": [frame, ...]}')
    extra = sorted(set(spec) - {"take", "blend", *KEEP_MODES})
    if extra:
        raise ValueError(f"unknown field(s) {', '.join(extra)} in keep; allowed: take, regenerate, frames, blend")
    if not (isinstance(spec.get("take"), str) and spec["take"]):
        raise ValueError('keep needs "take": the motion .npz to edit (a generate output)')
    check_text(spec["take"], "the take path")
    modes = [mode for mode in KEEP_MODES if mode in spec]
    if len(modes) != 1:
        raise ValueError('keep needs exactly one of "regenerate" ([start, end] seconds to generate again) and '
                         '"frames" (the frames to keep)')
    if modes[0] == "regenerate":
        start, end = _numbers(spec["regenerate"], 2, "keep.regenerate")
        if start < 0 or end <= start:
            raise ValueError(f"keep.regenerate must be [start, end] seconds with 0 <= start < end, got "
                             f"[{start:g}, {end:g}]")
        if "blend" in spec:
            raise ValueError("keep.blend goes with keep.frames (a regenerated range joins the take by itself)")
        return {"take": spec["take"], "regenerate": [start, end]}
    blend = spec.get("blend", 0)
    if not (isinstance(blend, int) and not isinstance(blend, bool) and 0 <= blend <= MAX_KEEP_BLEND_FRAMES):
        raise ValueError(f"keep.blend must be a whole number of frames from 0 to {MAX_KEEP_BLEND_FRAMES}")
    frames = spec["frames"]
    if (not isinstance(frames, list) or not frames
            or not all(isinstance(f, int) and not isinstance(f, bool) and f >= 0 for f in frames)):
        raise ValueError("keep.frames must be a non-empty list of frame numbers >= 0 (0 = the take's first frame)")
    if len(frames) > MAX_CLIP_FRAMES:
        raise ValueError(f"keep.frames lists {len(frames)} frames, over the {MAX_CLIP_FRAMES}-frame limit")
    return {"take": spec["take"], "frames": sorted(set(frames)), **({"blend": blend} if blend else {})}


def _check_shape(value):
    return _numbers(value, SHAPE_DIM, "shape", MAX_SHAPE_VALUE)


def _region_scale(what):
    return Field("number", default=1.0, nullable=False, low=0.0, high=MAX_REGION_SCALE,
                 doc=f"intensity of {what} about the neutral (1 changes nothing)")


# The adjustments of ``generate`` and ``adjust_take``, applied to the model's motion; every
# take records them in its settings (``adjustments``).
ADJUSTMENTS = {
    "mouth_scale": _region_scale("the lip shapes (closed lips stay closed)"),
    "jaw_scale": _region_scale("the jaw opening (with mouthClose, so closures stay closed)"),
    "brow_scale": _region_scale("the brows"),
    "eye_scale": _region_scale("the gaze, squint and wide eyes (blinks stay full blinks)"),
    "head_motion_scale": Field("number", default=1.0, nullable=False, low=0.0, high=MAX_HEAD_MOTION_SCALE,
                               doc="scale of the head rotation about its mean"),
    "lip_sync_offset": Field("integer", default=0, nullable=False, low=-MAX_LIP_SYNC_OFFSET_FRAMES,
                             high=MAX_LIP_SYNC_OFFSET_FRAMES,
                             doc="frames (at the output rate) the motion comes after the sound; negative: before"),
    "smoothing": Field("number", default=0.0, nullable=False, low=0.0, high=1.0,
                       doc="zero-phase smoothing strength; closures and blinks are kept"),
}


PARAMS = {
    Method.LOAD_MODEL: {
        "checkpoint": Field("string", required=True, doc="our checkpoint directory or a released DiffPoseTalk .pt"),
        "style_encoder": Field("string", doc="released style encoder .pt (released checkpoints only)"),
        "stats": Field("string", doc="released stats .npz (released checkpoints only)"),
        "device": Field("string", default="auto", nullable=False, doc="auto, cpu, cuda, cuda:N or mps"),
    },
    Method.ENCODE_STYLE: {
        "style": Field("any", required=True, check=lambda v: check_style(v, ("clip", "motion")),
                       doc='a "clip" or "motion" style object'),
        "output": Field("string", doc="also write the vector to this .npy file"),
    },
    Method.GENERATE: {
        "audio": Field("string", required=True, doc="audio file: WAV, FLAC, OGG or MP3"),
        "output": Field("string", required=True, doc=".npz path to write (atomically)"),
        "start": Field("number", low=0.0, doc="seconds into the audio to start at"),
        "end": Field("number", low=0.0, low_open=True, doc="seconds into the audio to stop at"),
        "style": Field("any", check=check_style, doc="style object, or null for none"),
        "shape": Field("any", check=_check_shape, doc=f"FLAME identity: {SHAPE_DIM} numbers"),
        "audio_scale": Field("number", low=0.0, high=10.0, doc="audio guidance scale (null: the model's default)"),
        "style_scale": Field("number", low=0.0, high=20.0, doc="style guidance scale (null: the model's default)"),
        "sampler": Field("string", doc="one of the model's samplers (null: its default)"),
        "steps": Field("integer", low=1, high=MAX_STEPS, doc="sampler steps (null: the model's default)"),
        "seed": Field("integer", default=0, nullable=False, low=0, high=2**32 - 1),
        "n_variations": Field("integer", default=1, nullable=False, low=1, high=MAX_VARIATIONS),
        "fps": Field("number", default=FPS, nullable=False, low=0.0, low_open=True, high=MAX_FPS),
        "dynamic_threshold": Field("number", default=0.0, nullable=False, low=0.0, high=0.99,
                                   doc="quantile ratio of dynamic thresholding; 0 turns it off"),
        "transcript": Field("string", doc="what is said, if known (helps the speech front-end)"),
        "overwrite": Field("boolean", default=True, nullable=False, doc="replace an existing output file"),
        "keep": Field("any", check=check_keep,
                      doc="edit a take: regenerate a range of it, or keep some of its frames (null: a new take)"),
        **ADJUSTMENTS,
    },
    Method.ADJUST_TAKE: {
        "take": Field("string", required=True, doc="a motion .npz written by generate or adjust_take"),
        "output": Field("string", required=True, doc=".npz path to write (atomically); may be the take itself"),
        "overwrite": Field("boolean", default=True, nullable=False, doc="replace an existing output file"),
        **ADJUSTMENTS,
    },
    Method.CANCEL: {
        "id": Field("id", doc="id of the request to cancel (null: the running job)"),
    },
    Method.STATUS: {},
    Method.SHUTDOWN: {},
}


def validate_params(method, params, request_id=None) -> dict:
    """Check a request's params against ``PARAMS``; return them with defaults filled in.

    Raises ProtocolError (unknown_method or invalid_params, with ``details.param``).
    """
    if method not in PARAMS:
        raise ProtocolError(
            ErrorCode.UNKNOWN_METHOD,
            f"unknown method {method!r}; the methods are {', '.join(METHODS)}",
            {"method": method, "methods": list(METHODS)},
            request_id,
        )
    fields = PARAMS[method]
    if not isinstance(params, dict):
        raise ProtocolError(ErrorCode.INVALID_PARAMS, '"params" must be a JSON object', {}, request_id)
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ProtocolError(
            ErrorCode.INVALID_PARAMS,
            f"unknown parameter(s) {', '.join(unknown)} for {method}; allowed: {', '.join(fields) or 'none'}",
            {"param": unknown[0], "allowed": list(fields)},
            request_id,
        )
    result = {}
    for name, field in fields.items():
        def bad(text, **details):
            return ProtocolError(ErrorCode.INVALID_PARAMS, f"{method}: {name}: {text}", {"param": name, **details},
                                 request_id)

        if name not in params or params[name] is None:
            if field.required:
                raise bad("is required")
            if name in params and not field.nullable:
                raise bad(f"must not be null (default {field.default!r})")
            result[name] = field.default
            continue
        value = params[name]
        if not _type_ok(field.kind, value):
            raise bad(f"must be {'an' if field.kind[0] in 'aeiou' else 'a'} {field.kind}, got {type(value).__name__}")
        if field.kind == "string":
            try:
                check_text(value, "the value")
            except ValueError as exc:
                too_long = len(value) > MAX_STRING_LENGTH
                raise bad(str(exc), **({"limit": MAX_STRING_LENGTH} if too_long else {})) from None
        if field.low is not None and (value < field.low or (field.low_open and value == field.low)):
            raise bad(f"must be {'>' if field.low_open else '>='} {field.low}, got {value}")
        if field.high is not None and value > field.high:
            raise bad(f"must be <= {field.high}, got {value}")
        if field.check is not None:
            try:
                value = field.check(value)
            except ValueError as exc:
                raise bad(str(exc)) from None
        if field.kind == "number":
            value = float(value)
        result[name] = value
    if method == Method.GENERATE and result["start"] is not None and result["end"] is not None:
        if result["end"] <= result["start"]:
            raise ProtocolError(
                ErrorCode.INVALID_PARAMS,
                f"generate: end ({result['end']}) must be after start ({result['start']})",
                {"param": "end"},
                request_id,
            )
    return result
