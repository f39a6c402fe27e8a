"""Audio files -> float32 mono 16 kHz, the model's input.

Decodes WAV, FLAC, OGG and MP3 with libsndfile (soundfile); files it cannot open go to
ffmpeg if it is installed. Any sample rate, channel count and sample format is accepted:
channels are averaged and the rate converted with a polyphase filter
(``scipy.signal.resample_poly``). The file is read in blocks and resampled block by block,
so memory holds the 16 kHz result plus one block, whatever the source rate and length.

Errors are ``AudioError`` subclasses carrying a protocol error code and a message that
says what to do.
"""
from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import firwin, resample_poly

from .protocol import MAX_AUDIO_SECONDS, MIN_AUDIO_SECONDS, ErrorCode, ProtocolError
from .timebase import SAMPLE_RATE

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
BLOCK_SECONDS = 10.0
# The highest rate audio equipment records at (16 x 48 kHz); a header claiming more is
# damaged, and its resampling filter would be sized by the absurd ratio.
MAX_SAMPLE_RATE = 768_000
# The polyphase filter has 20 * max(up, down) taps, so the rate ratio up / down is kept to
# terms of at most this: exact for every rate up to 48 kHz and the usual higher ones
# (88.2, 96, 176.4, 192 kHz...); another rate is converted through the nearest such ratio,
# off by at most 2e-5 (70 ms in an hour).
MAX_RATIO_TERM = 48_000

# First bytes of the formats we decode: a file that starts like one of these but does not
# decode is corrupt rather than "not audio".
_MAGIC = (b"RIFF", b"RF64", b"fLaC", b"OggS", b"ID3", b"FORM", b"caff")


class AudioError(ProtocolError):
    code = ErrorCode.INTERNAL

    def __init__(self, message: str, **details):
        super().__init__(self.code, message, details)


class AudioNotFound(AudioError):
    code = ErrorCode.FILE_NOT_FOUND


class NotAudio(AudioError):
    code = ErrorCode.NOT_AUDIO


class CorruptAudio(AudioError):
    code = ErrorCode.CORRUPT_AUDIO


class AudioTooShort(AudioError):
    code = ErrorCode.AUDIO_TOO_SHORT


class AudioTooLong(AudioError):
    code = ErrorCode.AUDIO_TOO_LONG


@dataclass(frozen=True)
class AudioInfo:
    path: str
    sample_rate: int
    channels: int
    duration: float  # seconds (an estimate for some MP3 files)
    format: str
    decoder: str  # "soundfile" | "ffmpeg"


def rate_ratio(rate_in: int, rate_out: int = SAMPLE_RATE) -> tuple:
    """(up, down) of the polyphase conversion from ``rate_in`` to ``rate_out`` Hz."""
    ratio = Fraction(int(rate_out), int(rate_in)).limit_denominator(MAX_RATIO_TERM)
    return ratio.numerator, ratio.denominator


def resample(audio: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited polyphase resampling of a whole signal, float32 out."""
    audio = np.asarray(audio, dtype=np.float32)
    if rate_in == rate_out:
        return audio
    return resample_poly(audio, *rate_ratio(rate_in, rate_out)).astype(np.float32)


class StreamingResampler:
    """``resample_poly`` applied block by block, equal to resampling the whole signal.

    Each block is filtered with enough input context on both sides to cover the filter,
    and block boundaries fall on multiples of ``down`` so output samples line up.
    """

    def __init__(self, rate_in: int, rate_out: int = SAMPLE_RATE):
        self.up, self.down = rate_ratio(rate_in, rate_out)
        # resample_poly's filter reaches 10 * max(up, down) samples of the upsampled signal
        # on each side, i.e. that / up input samples.
        reach = math.ceil(10 * max(self.up, self.down) / self.up) + 1
        # That filter, designed once (resample_poly would design it again for every block).
        widest = max(self.up, self.down)
        self._filter = None if self.up == self.down else firwin(20 * widest + 1, 1.0 / widest, window=("kaiser", 5.0))
        self.pad = math.ceil(reach / self.down) * self.down
        self.chunk = max(1, 65536 // self.down) * self.down
        self._buffer = np.zeros(0, np.float32)
        self._offset = 0  # input index of _buffer[0] (multiple of down)
        self._next = 0  # first input index whose output is not emitted yet (multiple of down)

    def _run(self, stop: int, last: bool) -> np.ndarray:
        left = min(self.pad, self._next - self._offset)
        a = self._next - left - self._offset
        b = min(len(self._buffer), stop + self.pad - self._offset)
        y = resample_poly(self._buffer[a:b].astype(np.float64), self.up, self.down, window=self._filter)
        skip = left * self.up // self.down
        if last:
            count = math.ceil((stop - self._next) * self.up / self.down)
        else:
            count = (stop - self._next) * self.up // self.down
        return y[skip : skip + count].astype(np.float32)

    def feed(self, x: np.ndarray) -> np.ndarray:
        if self.up == self.down:
            return x.astype(np.float32, copy=False)
        self._buffer = np.concatenate([self._buffer, x.astype(np.float32, copy=False)])
        end = self._offset + len(self._buffer)
        out = []
        while end - self._next >= self.chunk + self.pad:
            stop = self._next + self.chunk
            out.append(self._run(stop, last=False))
            self._next = stop
            drop = self._next - self.pad - self._offset
            if drop > 0:
                self._buffer = self._buffer[drop:]
                self._offset += drop
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def flush(self) -> np.ndarray:
        if self.up == self.down:
            return np.zeros(0, np.float32)
        end = self._offset + len(self._buffer)
        if end <= self._next:
            return np.zeros(0, np.float32)
        y = self._run(end, last=True)
        self._next = end
        return y


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise AudioNotFound(f"audio file {str(path)!r} does not exist; check the path", path=str(path))
    if path.is_dir():
        raise NotAudio(f"{str(path)!r} is a folder, not an audio file; give a WAV, FLAC, OGG or MP3 file", path=str(path))
    if path.stat().st_size == 0:
        raise NotAudio(f"audio file {str(path)!r} is empty (0 bytes); export the audio again", path=str(path))


def _looks_like_audio(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4)
    # an MP3 without tags starts with a frame sync: 11 set bits
    return head.startswith(_MAGIC) or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


def _ffprobe(path: Path) -> AudioInfo | None:
    if shutil.which("ffprobe") is None:
        return None
    cmd = ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
           "stream=sample_rate,channels:format=duration,format_name", "-of", "json", str(path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        probe = json.loads(proc.stdout or "{}")
        stream = probe["streams"][0]
        return AudioInfo(str(path), int(stream["sample_rate"]), int(stream["channels"]),
                         float(probe["format"]["duration"]), probe["format"]["format_name"], "ffmpeg")
    except (subprocess.SubprocessError, OSError, ValueError, KeyError, IndexError):
        return None


def audio_info(path) -> AudioInfo:
    """Rate, channels and duration from the header; raises an AudioError if unreadable."""
    path = Path(path)
    _check_exists(path)
    try:
        info = sf.info(str(path))
        if info.samplerate > 0 and info.channels > 0:
            return AudioInfo(str(path), info.samplerate, info.channels, info.frames / info.samplerate,
                             info.format, "soundfile")
    except (sf.LibsndfileError, RuntimeError, EOFError) as exc:
        log.debug("soundfile cannot open %s: %s", path, exc)
    probed = _ffprobe(path)
    if probed is not None and probed.sample_rate > 0 and probed.channels > 0:
        return probed
    if _looks_like_audio(path):
        raise CorruptAudio(
            f"{str(path)!r} looks like an audio file but cannot be decoded (damaged or truncated); "
            "export it again as WAV or FLAC", path=str(path))
    raise NotAudio(f"{str(path)!r} is not an audio file this backend can read; give a WAV, FLAC, OGG or MP3 file",
                   path=str(path))


def _segment(info: AudioInfo, start, end, max_seconds, min_seconds):
    start = float(start or 0.0)
    stop = info.duration if end is None else min(float(end), info.duration)
    where = f"{info.path!r}" + (f" between {start:g} s and {stop:g} s" if start or end is not None else "")
    if info.duration <= 0:
        raise AudioTooShort(f"{info.path!r} holds no audio (zero length); export the audio again",
                            path=info.path, duration=0.0, limit=min_seconds)
    if start >= info.duration:
        raise AudioTooShort(f"start {start:g} s is past the end of {info.path!r} ({info.duration:.2f} s long); "
                            "give an earlier start", path=info.path, duration=info.duration, limit=min_seconds)
    length = stop - start
    if length < min_seconds:
        raise AudioTooShort(f"{where} is {length:.3f} s long, under the {min_seconds:g} s minimum; "
                            "use a longer clip", path=info.path, duration=length, limit=min_seconds)
    if length > max_seconds:
        raise AudioTooLong(f"{where} is {length:.0f} s long, over the {max_seconds:g} s limit; "
                           "split it, or pass start and end to use a part", path=info.path,
                           duration=length, limit=max_seconds)
    return start, stop


def _blocks_soundfile(info: AudioInfo, start: float, stop: float):
    block = max(1, int(BLOCK_SECONDS * info.sample_rate))
    try:
        with sf.SoundFile(info.path) as f:
            first = int(round(start * info.sample_rate))
            remaining = int(round(stop * info.sample_rate)) - first
            if first:
                f.seek(first)
            while remaining > 0:
                data = f.read(min(block, remaining), dtype="float32", always_2d=True)
                if len(data) == 0:
                    break
                remaining -= len(data)
                yield data.mean(axis=1)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise CorruptAudio(f"{info.path!r} could not be decoded past its header ({exc}); "
                           "export the audio again as WAV or FLAC", path=info.path) from None


def _blocks_ffmpeg(info: AudioInfo, start: float, stop: float):
    if shutil.which("ffmpeg") is None:
        raise NotAudio(f"{info.path!r} needs ffmpeg to decode and ffmpeg is not installed; install ffmpeg "
                       "or convert the file to WAV", path=info.path)
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-ss", f"{start:.6f}", "-i", info.path, "-t",
           f"{stop - start:.6f}", "-map", "0:a:0", "-ac", "1", "-f", "f32le", "-"]
    bytes_per_block = 4 * int(BLOCK_SECONDS * info.sample_rate)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        tail = b""
        while True:
            chunk = proc.stdout.read(bytes_per_block)
            if not chunk:
                break
            chunk = tail + chunk
            usable = len(chunk) // 4 * 4
            tail = chunk[usable:]
            yield np.frombuffer(chunk[:usable], np.float32)
        stderr = proc.stderr.read().decode("utf-8", "replace").strip()
        if proc.wait() != 0:
            raise CorruptAudio(f"ffmpeg could not decode {info.path!r} ({stderr[-300:]}); export the audio again",
                               path=info.path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def load_audio(path, start=None, end=None, *, max_seconds=MAX_AUDIO_SECONDS, min_seconds=MIN_AUDIO_SECONDS,
               progress=None) -> np.ndarray:
    """Decode ``path`` (optionally only ``start``..``end`` seconds) to float32 mono 16 kHz.

    ``progress(fraction)`` is called after each block (it may raise to stop decoding).
    Returns shape (N,) float32 with N = ceil(seconds * 16000).
    """
    info = audio_info(path)
    if info.sample_rate > MAX_SAMPLE_RATE:
        raise CorruptAudio(f"{info.path!r} claims a sample rate of {info.sample_rate} Hz, over the "
                           f"{MAX_SAMPLE_RATE} Hz limit (its header is probably damaged); export the audio again",
                           path=info.path, sample_rate=info.sample_rate, limit=MAX_SAMPLE_RATE)
    start, stop = _segment(info, start, end, max_seconds, min_seconds)
    blocks = _blocks_soundfile if info.decoder == "soundfile" else _blocks_ffmpeg
    resampler = StreamingResampler(info.sample_rate, SAMPLE_RATE)
    # The output is allocated once (slightly over-sized), so memory is the 16 kHz result.
    capacity = int(math.ceil((stop - start) * SAMPLE_RATE)) + SAMPLE_RATE
    out = np.zeros(capacity, np.float32)
    filled = 0
    seen = 0

    def append(y):
        nonlocal out, filled
        if filled + len(y) > len(out):
            out = np.concatenate([out[:filled], np.zeros(len(y) + SAMPLE_RATE, np.float32)])
        out[filled : filled + len(y)] = y
        filled += len(y)

    for block in blocks(info, start, stop):
        if not np.all(np.isfinite(block)):
            raise CorruptAudio(f"{info.path!r} decodes to invalid samples (NaN or infinity); export it again",
                               path=info.path)
        append(resampler.feed(block))
        seen += len(block)
        if progress is not None:
            progress(min(1.0, seen / max(1.0, (stop - start) * info.sample_rate)))
    append(resampler.flush())
    if filled / SAMPLE_RATE < min_seconds:
        raise AudioTooShort(f"{info.path!r} decodes to {filled / SAMPLE_RATE:.3f} s of audio, under the "
                            f"{min_seconds:g} s minimum; use a longer clip", path=info.path,
                            duration=filled / SAMPLE_RATE, limit=min_seconds)
    log.debug("decoded %s: %d Hz x %d ch -> %d samples at 16 kHz", info.path, info.sample_rate, info.channels, filled)
    return out[:filled]

