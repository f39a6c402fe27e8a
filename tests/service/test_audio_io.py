"""Audio decoding: formats, rates, channels, sample formats, parts, errors, streaming."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from backend import audio_io
from backend.protocol import ErrorCode

from helpers import tone


@pytest.mark.parametrize("name", ["wav", "flac", "ogg", "mp3", "u8", "float"])
def test_every_format_decodes_to_16k_mono_float32(audio, name):
    info = sf.info(str(audio[name]))
    samples = audio_io.load_audio(audio[name])
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - info.duration * 16000) <= 16000 * 0.06  # MP3 padding at most a few frames
    assert 0.05 < np.abs(samples).max() < 1.1


def test_mp3_goes_through_libsndfile(audio):
    assert audio_io.audio_info(audio["mp3"]).decoder == "soundfile"


def test_channels_are_averaged_and_the_rate_converted_exactly(tmp_path):
    rate = 44100
    t = np.arange(rate) / rate
    left, right = np.sin(2 * np.pi * 300 * t), 0.5 * np.sin(2 * np.pi * 300 * t)
    sf.write(tmp_path / "s.wav", np.stack([left, right], 1).astype(np.float32), rate, subtype="FLOAT")
    samples = audio_io.load_audio(tmp_path / "s.wav")
    expected = resample_poly((left + right) / 2, 160, 441)
    assert len(samples) == len(expected) == 16000
    np.testing.assert_allclose(samples, expected, atol=1e-5)


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000, 96000, 16000])
def test_streaming_resampler_equals_whole_signal_resampling(rate):
    x = np.random.default_rng(rate).standard_normal(rate * 2 + 37).astype(np.float32)
    resampler = audio_io.StreamingResampler(rate)
    pieces = [resampler.feed(x[i:i + 5000]) for i in range(0, len(x), 5000)] + [resampler.flush()]
    streamed = np.concatenate(pieces)
    whole = resample_poly(x.astype(np.float64), resampler.up, resampler.down)
    assert len(streamed) == len(whole)
    np.testing.assert_allclose(streamed, whole, atol=1e-5)


def test_start_and_end_select_a_part(tmp_path):
    rate = 22050
    ramp = np.linspace(-1, 1, rate * 4).astype(np.float32)
    sf.write(tmp_path / "ramp.flac", ramp, rate, subtype="PCM_24")
    part = audio_io.load_audio(tmp_path / "ramp.flac", 1.0, 2.5)
    assert len(part) == 24000
    full = audio_io.load_audio(tmp_path / "ramp.flac")
    np.testing.assert_allclose(part[100:-100], full[16000 + 100:40000 - 100], atol=2e-3)
    tail = audio_io.load_audio(tmp_path / "ramp.flac", start=3.5, end=99)
    assert len(tail) == 8000


def test_ffmpeg_fallback_for_files_libsndfile_cannot_read(tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    sf.write(tmp_path / "src.wav", tone(1.0, 22050), 22050)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / "src.wav"), str(tmp_path / "a.m4a")], check=True)
    assert audio_io.audio_info(tmp_path / "a.m4a").decoder == "ffmpeg"
    samples = audio_io.load_audio(tmp_path / "a.m4a")
    assert abs(len(samples) - 16000) < 1600 and np.abs(samples).max() > 0.1


@pytest.mark.parametrize("name, error", [
    ("text", audio_io.NotAudio),
    ("zero_bytes", audio_io.NotAudio),
    ("corrupt", audio_io.CorruptAudio),
    ("empty", audio_io.AudioTooShort),
    ("short", audio_io.AudioTooShort),
    ("hour", audio_io.AudioTooLong),
])
def test_bad_audio(audio, name, error):
    with pytest.raises(error) as info:
        audio_io.load_audio(audio[name])
    assert info.value.code in (ErrorCode.NOT_AUDIO, ErrorCode.CORRUPT_AUDIO, ErrorCode.AUDIO_TOO_SHORT,
                               ErrorCode.AUDIO_TOO_LONG)
    assert info.value.details["path"] == str(audio[name])


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(audio_io.AudioNotFound):
        audio_io.load_audio(tmp_path / "nope.wav")
    with pytest.raises(audio_io.NotAudio):
        audio_io.load_audio(tmp_path)


def test_the_limit_is_checked_before_decoding_and_a_part_of_a_long_file_is_fine(audio):
    with pytest.raises(audio_io.AudioTooLong) as info:
        audio_io.load_audio(audio["hour"])
    assert info.value.details["limit"] == 3600.0 and "3600" in info.value.message
    part = audio_io.load_audio(audio["hour"], start=3000, end=3010)
    assert len(part) == 160000


def test_progress_can_stop_decoding(audio):
    class Stop(Exception):
        pass

    def progress(fraction):
        raise Stop

    with pytest.raises(Stop):
        audio_io.load_audio(audio["long"], progress=progress)


def test_an_absurd_sample_rate_is_refused_before_decoding(tmp_path):
    path = tmp_path / "damaged.wav"
    sf.write(path, np.zeros(100_000, np.int16), 16_777_259, subtype="PCM_16")
    with pytest.raises(audio_io.CorruptAudio) as info:
        audio_io.load_audio(path)
    assert info.value.details["limit"] == audio_io.MAX_SAMPLE_RATE and "768000 Hz limit" in info.value.message


@pytest.mark.parametrize("rate", [47_999, 96_001, 767_999])
def test_odd_rates_convert_with_a_bounded_filter_and_keep_time_and_pitch(tmp_path, rate):
    seconds = 3
    t = np.arange(rate * seconds) / rate
    sf.write(tmp_path / "odd.wav", (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, subtype="FLOAT")
    resampler = audio_io.StreamingResampler(rate)
    assert max(resampler.up, resampler.down) <= audio_io.MAX_RATIO_TERM
    samples = audio_io.load_audio(tmp_path / "odd.wav")
    assert abs(len(samples) - seconds * 16000) <= 1
    spectrum = np.abs(np.fft.rfft(samples[4000:-4000] * np.hanning(len(samples) - 8000)))
    peak_hz = np.argmax(spectrum) * 16000 / (len(samples) - 8000)
    assert abs(peak_hz - 440) < 1.0
