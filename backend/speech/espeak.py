"""espeak-ng speech synthesis with exact phoneme timings, through its C API (ctypes).

The library and its voice data come from the ``espeakng-loader`` wheel, so no system
espeak-ng is needed. espeak-ng keeps global state (one voice, one callback), so every call
holds a module lock: ``synthesize`` is safe to call from several threads, one at a time.

Phoneme events give IPA names (``espeakINITIALIZE_PHONEME_IPA``) and the time at which
each phoneme starts; a phoneme ends where the next event begins. Pauses arrive as events
with an empty name and some events have zero length: both are kept as they come so that
``backend.speech.phones.ipa_to_phones`` sees what espeak produced.
"""
from __future__ import annotations

import ctypes
import logging
import threading
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

SAMPLE_RATE = 22050  # espeak-ng's native rate; checked against espeak_Initialize's answer

# Facts from espeak-ng's speak_lib.h (API revision 12).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
_PARAM_RANGE = 4
_PARAM_WORDGAP = 7

RATE_RANGE = (80, 450)  # words per minute that espeak accepts


class EspeakError(RuntimeError):
    """espeak-ng could not be loaded or refused a request."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds from the start of the message
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))

_lock = threading.Lock()
_lib = None
_callback = None  # kept referenced: espeak holds only the raw pointer
_chunks: list[np.ndarray] = []
_events: list[tuple[str, int]] = []  # (ipa name, sample index in the message)


def _on_audio(wav, n_samples, events) -> int:
    if n_samples > 0 and wav:
        _chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
    i = 0
    while events[i].type != _EVENT_LIST_TERMINATED:
        event = events[i]
        if event.type == _EVENT_PHONEME:
            # names fill at most 8 bytes: a longer one loses the tail of its last character
            name = bytes(event.id.string).split(b"\0", 1)[0].decode("utf-8", "ignore")
            _events.append((name, event.sample))
        i += 1
    return 0


def _library():
    """Load and initialise espeak-ng once (caller holds the lock)."""
    global _lib, _callback
    if _lib is not None:
        return _lib
    try:
        import espeakng_loader
    except ImportError as error:
        raise EspeakError("espeak-ng is missing: install the 'espeakng-loader' package") from error
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    lib.espeak_Synth.restype = ctypes.c_int
    data_parent = str(Path(espeakng_loader.get_data_path()).parent)  # holds espeak-ng-data
    rate = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_parent.encode(),
        _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA | _INITIALIZE_DONT_EXIT)
    if rate != SAMPLE_RATE:
        raise EspeakError(f"espeak-ng failed to start (answered {rate}); reinstall espeakng-loader")
    _callback = _CALLBACK(_on_audio)
    lib.espeak_SetSynthCallback(_callback)
    _lib = lib
    return lib


def variants() -> list[str]:
    """Names of the voice variants espeak-ng ships (``m1``, ``f3``, ``klatt2``, ``croak``...)."""
    import espeakng_loader
    return sorted(p.name for p in (Path(espeakng_loader.get_data_path()) / "voices" / "!v").iterdir()
                  if p.is_file())


def synthesize(text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50,
               pitch_range: int = 50, variant: str | None = None, word_gap: int = 0):
    """Speak ``text`` and return ``(audio, sample_rate, segments)``.

    audio: float32 (N,) in [-1, 1] at espeak's native ``SAMPLE_RATE`` (22050 Hz).
    segments: ``[(ipa_name, start_s, end_s)]`` for every phoneme event in order; each ends
    where the next begins (the last at the end of the audio). Pauses have an empty name and
    some events have zero length; ``backend.speech.phones.phone_segments`` maps them.
    voice: an espeak-ng voice name (``en-us``, ``en``, ``de``...); variant: one of
    ``variants()``; rate in words per minute (80-450); pitch and pitch_range 0-100;
    word_gap: extra pause between words in units of 10 ms.
    """
    if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
        raise ValueError(f"rate must be {RATE_RANGE[0]}-{RATE_RANGE[1]} words per minute, got {rate}")
    for name, value in (("pitch", pitch), ("pitch_range", pitch_range)):
        if not 0 <= value <= 100:
            raise ValueError(f"{name} must be 0-100, got {value}")
    name = voice if variant is None else f"{voice}+{variant}"
    encoded = text.encode("utf-8")
    with _lock:
        lib = _library()
        if lib.espeak_SetVoiceByName(name.encode("utf-8")) != 0:
            raise EspeakError(f"espeak-ng has no voice {name!r}; see 'espeak-ng --voices' and "
                              "backend.speech.espeak.variants()")
        for param, value in ((_PARAM_RATE, rate), (_PARAM_PITCH, pitch), (_PARAM_RANGE, pitch_range),
                             (_PARAM_VOLUME, 100), (_PARAM_WORDGAP, word_gap)):
            lib.espeak_SetParameter(param, int(value), 0)
        _chunks.clear()
        _events.clear()
        try:
            status = lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if status != 0:
                raise EspeakError(f"espeak-ng refused the text (error {status})")
            audio = (np.concatenate(_chunks) if _chunks else np.zeros(0, np.int16))
            events = list(_events)
        finally:
            _chunks.clear()
            _events.clear()
    audio = audio.astype(np.float32) / 32768.0
    n = len(audio)
    # the lead-in before the first phoneme is silence with no event of its own
    segments = [("", 0.0, min(events[0][1], n) / SAMPLE_RATE)] if events and events[0][1] > 0 else []
    for k, (ipa, sample) in enumerate(events):
        start = min(sample, n)
        end = min(events[k + 1][1], n) if k + 1 < len(events) else n
        segments.append((ipa, start / SAMPLE_RATE, max(start, end) / SAMPLE_RATE))
    return audio, SAMPLE_RATE, segments
