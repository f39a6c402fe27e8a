import numpy as np
import pytest

from backend.speech.phones import PHONES, SILENCE, mouth_class
from backend.speech.recognizer import mouth_agreement, split_points
from backend.audio_io import load_audio
from project import ROOT
from speech_audio import ENGLISH, speak16k

REAL_SPEECH = ROOT / "assets" / "real_speech"


def _contiguous(segments, duration):
    assert segments[0][1] == 0.0 and segments[-1][2] == pytest.approx(duration)
    for (_, _, end), (_, start, _) in zip(segments, segments[1:]):
        assert start == pytest.approx(end)
    assert all(p in PHONES and b > a for p, a, b in segments)


def test_phone_loop_hears_the_speech(phone_loop, english):
    audio, truth = english
    result = phone_loop.recognize(audio)
    _contiguous(result.segments, len(audio) / 16000)
    assert result.aligned_s == 0.0
    heard = [p for p, _, _ in result.segments if p != SILENCE]
    assert len(heard) > 0.5 * sum(p != SILENCE for p, _, _ in truth)
    assert {"bilabial", "rounded", "open_vowel"} <= {mouth_class(p) for p in heard}
    # far better than chance (about 0.2 on speech frames) even on a synthetic voice
    assert mouth_agreement(result.segments, truth, 0.0, len(audio) / 16000) > 0.5


def test_matching_transcript_is_forced_aligned(recognizer, phone_loop, english):
    audio, truth = english
    result = recognizer.recognize(audio, ENGLISH)
    _contiguous(result.segments, len(audio) / 16000)
    assert result.aligned_s == pytest.approx(len(audio) / 16000)
    loop = phone_loop.recognize(audio)
    duration = len(audio) / 16000
    assert mouth_agreement(result.segments, truth, 0.0, duration) > mouth_agreement(loop.segments, truth, 0.0, duration)


def test_wrong_transcript_falls_back_to_phone_recognition(recognizer, phone_loop, english):
    audio, _ = english
    wrong = recognizer.recognize(audio, "seven of hearts and a queen of spades on the table tonight")
    assert wrong.aligned_s == 0.0
    assert [p for p, _, _ in wrong.segments] == [p for p, _, _ in phone_loop.recognize(audio).segments]


def test_without_transcript_real_speech_is_aligned_to_the_words_heard(recognizer, phone_loop):
    """On real recordings the words heard place more lip closures than the phone loop;
    the reference is forced alignment of the true transcript."""
    found = {"words": 0, "loop": 0}
    total = 0
    for name in ("austen_0870", "austen_0920", "cards_005", "goforward"):
        audio = load_audio(REAL_SPEECH / f"{name}.flac")
        duration = len(audio) / 16000
        truth = recognizer.recognize(audio, (REAL_SPEECH / f"{name}.txt").read_text()).segments
        heard = recognizer.recognize(audio)
        _contiguous(heard.segments, duration)
        assert heard.aligned_s == pytest.approx(duration), f"{name}: the words heard were aligned"
        for key, segments in (("words", heard.segments), ("loop", phone_loop.recognize(audio).segments)):
            n, count = _bilabial_closures_found(truth, segments, duration)
            found[key] += n
        total += count
    assert total >= 15
    assert found["words"] > found["loop"] and found["words"] >= 0.85 * total, (found, total)


def test_the_words_aligned_come_with_their_times_across_chunks(recognizer):
    """Over 40 s (three chunks) every word of the transcript is timed once, in order, in the
    whole audio's time, and lies over the phones aligned for it."""
    from backend.speech.spoken_text import spoken_words
    from recordings import real_speech

    audio, transcript = real_speech(40.0)
    result = recognizer.recognize(audio, transcript)
    assert len(result.chunks) >= 3
    timed = result.timed_words
    said = spoken_words(transcript)
    assert [word for word, _, _ in timed] == said[:len(timed)] and len(timed) >= 0.9 * len(said)
    times = np.array([(start, end) for _, start, end in timed])
    assert np.all(times[:, 1] > times[:, 0]) and np.all(times[1:, 0] >= times[:-1, 1] - 1e-6)
    assert times[0, 0] >= 0 and times[-1, 1] <= len(audio) / 16000
    for chunk in result.chunks[1:]:  # a later chunk's words are placed in its own part of the audio
        first_start = chunk.timed_words[0][1]
        chunk_start = min(start for _, start, _ in chunk.segments)
        assert chunk_start <= first_start < chunk_start + chunk.duration
    spoken = [(start, end) for phone, start, end in result.segments if phone != SILENCE]
    for _, start, end in timed:  # a word's middle is speech
        middle = (start + end) / 2
        assert any(a - 0.05 <= middle <= b + 0.05 for a, b in spoken), (start, end)


def test_true_transcript_is_kept_under_noise_and_a_wrong_one_is_not(recognizer):
    """White noise 20 dB below the voice throws the phone loop off, so the true transcript
    no longer agrees with it; it still fits the sound, and a wrong transcript does not."""
    for name in ("austen_0920", "austen_0930", "cards_003"):
        audio = load_audio(REAL_SPEECH / f"{name}.flac")
        noise = np.random.default_rng(0).normal(0, 1, len(audio)).astype(np.float32)
        noisy = audio + noise * np.sqrt(np.mean(audio ** 2) / 100)
        result = recognizer.recognize(noisy, (REAL_SPEECH / f"{name}.txt").read_text())
        assert result.aligned_s == pytest.approx(len(audio) / 16000), name
    audio = load_audio(REAL_SPEECH / "austen_0890.flac")
    assert recognizer.recognize(audio, (REAL_SPEECH / "austen_0930.txt").read_text()).aligned_s == 0.0


def test_words_missing_from_the_dictionary_are_pronounced_by_espeak(recognizer):
    text = "Zorblax and Quimbly met Vexworth by the boat."
    audio, _ = speak16k(text)
    assert recognizer.recognize(audio, text).aligned_s > 0


def test_silence_empty_and_tiny_audio(recognizer):
    assert recognizer.recognize(np.zeros(0, np.float32)).segments == []
    silent = recognizer.recognize(np.zeros(16000, np.float32))
    assert silent.segments == [(SILENCE, 0.0, 1.0)]
    noise = np.random.default_rng(0).normal(0, 0.05, 16000 * 3).astype(np.float32)
    for n in (1, 240, 800, len(noise)):
        for transcript in ("hello there", None):
            result = recognizer.recognize(noise[:n], transcript)
            _contiguous(result.segments, n / 16000)
    assert recognizer.recognize(noise, "hello there").aligned_s == 0.0  # no words in noise


def test_split_points_cut_in_pauses_and_cover_everything():
    rng = np.random.default_rng(0)
    loud = rng.normal(0, 0.1, 16000 * 8).astype(np.float32)
    audio = np.concatenate([loud, np.zeros(3200, np.float32), loud, np.zeros(3200, np.float32), loud])
    chunks = split_points(audio, 10.0)
    assert chunks[0][0] == 0 and chunks[-1][1] == len(audio)
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
    assert all(b - a <= 160000 for a, b in chunks)
    for _, cut in chunks[:-1]:
        assert np.all(audio[cut - 160:cut + 160] == 0)  # inside a pause


def _bilabial_closures_found(truth, heard, duration):
    """(found, total): runs of true bilabial 10 ms frames with a heard bilabial within 20 ms."""
    n = int(round(duration * 100))

    def frames(segments):
        out = np.zeros(n, bool)
        for p, a, b in segments:
            if mouth_class(p) == "bilabial":
                out[int(round(a * 100)):int(round(b * 100))] = True
        return out

    want, got = frames(truth), frames(heard)
    starts = np.flatnonzero(want & ~np.r_[False, want[:-1]])
    ends = np.flatnonzero(want & ~np.r_[want[1:], False]) + 1
    return sum(got[max(a - 2, 0):b + 2].any() for a, b in zip(starts, ends)), len(starts)


@pytest.mark.parametrize("voice, text, at_least", [
    ("es", "Mi mamá compró un mapa bonito en Barcelona. Vamos a beber vino blanco en el bosque.", 0.4),
    ("de", "Meine Mutter baut ein großes blaues Boot. Wir waren am Bahnhof mit dem Bus und der Bahn.", 0.2),
])
def test_other_languages_still_give_phones_and_closures(recognizer, voice, text, at_least):
    audio, truth = speak16k(text, voice=voice)
    result = recognizer.recognize(audio)
    _contiguous(result.segments, len(audio) / 16000)
    assert result.aligned_s == 0.0, "English words heard in other languages are not aligned"
    found, total = _bilabial_closures_found(truth, result.segments, len(audio) / 16000)
    assert total >= 8 and found >= at_least * total


def test_result_does_not_depend_on_what_was_decoded_before(recognizer, english):
    audio, _ = english
    first = recognizer.recognize(audio).segments
    recognizer.recognize(np.random.default_rng(1).normal(0, 0.3, 16000 * 3).astype(np.float32))
    assert recognizer.recognize(audio).segments == first


def _music(seconds, seed=0):
    """Chords with a beat: harmonic, loud and voiceless, where Whisper likes to write words."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0))
    beat = (np.sin(2 * np.pi * 2.0 * t) > 0).astype(np.float32)
    return (0.1 * chord * (0.5 + 0.5 * beat) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.mark.parametrize("kind", ["silence", "hiss", "music"])
def test_nothing_is_aligned_where_nobody_speaks(recognizer, kind):
    """Whisper writes "You" or "Thank you." on silence and music; no such words reach the face."""
    audio = {"silence": np.zeros(16000 * 10, np.float32),
             "hiss": np.random.default_rng(0).normal(0, 0.05, 16000 * 6).astype(np.float32),
             "music": _music(8.0)}[kind]
    result = recognizer.recognize(audio)
    _contiguous(result.segments, len(audio) / 16000)
    assert result.aligned_s == 0.0, result.words
    if kind == "silence":
        assert result.segments == [(SILENCE, 0.0, 10.0)]


def test_words_heard_must_fit_the_sound(recognizer):
    """What a recognizer makes up (its classic "thank you for watching", or another clip's
    words) is refused under Whisper's rule; the words actually said are kept."""
    from backend.speech.recognizer import WHISPER
    from backend.speech.spoken_text import spoken_words

    audio = load_audio(REAL_SPEECH / "austen_0920.flac")
    said = spoken_words((REAL_SPEECH / "austen_0920.txt").read_text())
    assert recognizer.align_words(audio, said, WHISPER) is not None
    for made_up in ("thank you for watching and please subscribe to the channel",
                    (REAL_SPEECH / "austen_0870.txt").read_text()):
        assert recognizer.align_words(audio, spoken_words(made_up), WHISPER) is None


def test_numbers_heard_as_digits_are_aligned_as_words(recognizer):
    """Whisper writes "Go forward 10 meters."; the spoken "ten" gets aligned."""
    audio = load_audio(REAL_SPEECH / "goforward.flac")
    assert recognizer.recognize(audio, "Go forward 10 meters.").aligned_s == pytest.approx(len(audio) / 16000)


def test_other_languages_are_pronounced_in_their_own_phonemes(recognizer):
    """A multilingual Whisper model names the language; espeak-ng's phonemes for it place
    more lip closures than an English reading of the same words. (espeak-ng's own voices
    fit the English acoustic model too poorly for Whisper's rule, so a transcript's is used.)"""
    from backend.speech.spoken_text import spoken_words

    text = "Mi mamá compró un mapa bonito en Barcelona. Vamos a beber vino blanco en el bosque."
    audio, truth = speak16k(text, voice="es")
    duration = len(audio) / 16000
    spanish = recognizer.align_words(audio, spoken_words(text, "es"), "transcript", language="es")
    assert spanish is not None
    found, total = _bilabial_closures_found(truth, spanish.segments, duration)
    english = recognizer.align_words(audio, spoken_words(text), "transcript", language="en")
    english_found = _bilabial_closures_found(truth, english.segments, duration)[0] if english else 0
    assert found >= 0.8 * total and found > english_found
