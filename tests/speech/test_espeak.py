import threading

import numpy as np
import pytest

from backend.speech import espeak

TEXT = "Bob mapped the moon. Then we waited, and Fay fed five foxes."


def _rms(audio, rate, segments):
    return np.sqrt(np.mean(np.concatenate([audio[int(a * rate):int(b * rate)] for a, b in segments]) ** 2))


def test_synthesize_returns_native_rate_audio_and_contiguous_segments():
    audio, rate, segments = espeak.synthesize(TEXT)
    assert rate == espeak.SAMPLE_RATE == 22050
    assert audio.dtype == np.float32 and audio.ndim == 1 and 0.05 < np.abs(audio).max() <= 1.0
    assert segments[0][1] == 0.0
    assert segments[-1][2] == pytest.approx(len(audio) / rate)
    for (_, _, end), (_, start, _) in zip(segments, segments[1:]):
        assert start == end
    assert all(end >= start for _, start, end in segments)
    assert "" in {ipa for ipa, _, _ in segments}  # the sentence pause


def test_segment_times_match_the_sound():
    audio, rate, segments = espeak.synthesize(TEXT)
    vowels = [(a, b) for ipa, a, b in segments if any(v in ipa for v in "ɑæuːiɛeɪə")]
    pauses = [(a, b) for ipa, a, b in segments if ipa == "" and b - a > 0.1]
    assert pauses and vowels
    assert _rms(audio, rate, vowels) > 10 * _rms(audio, rate, pauses)


def test_rate_changes_duration_and_phoneme_count_stays():
    slow = espeak.synthesize(TEXT, rate=120)
    fast = espeak.synthesize(TEXT, rate=300)
    assert len(fast[0]) < 0.7 * len(slow[0])
    assert [s[0] for s in slow[2] if s[0]] == [s[0] for s in fast[2] if s[0]]


def test_variant_and_pitch_change_the_voice_not_the_phonemes():
    base = espeak.synthesize(TEXT)
    other = espeak.synthesize(TEXT, variant="f3", pitch=80)
    assert [s[0] for s in base[2] if s[0]] == [s[0] for s in other[2] if s[0]]
    assert not np.array_equal(base[0][:len(other[0])], other[0][:len(base[0])])
    assert "m1" in espeak.variants() and "klatt" in espeak.variants()


def test_bad_requests_say_what_to_do():
    with pytest.raises(espeak.EspeakError, match="voices"):
        espeak.synthesize("hello", voice="xx-nowhere")
    with pytest.raises(ValueError, match="words per minute"):
        espeak.synthesize("hello", rate=1000)


def test_threads_get_their_own_results():
    texts = ["one two three four", "the big blue balloon", "five fine violins", "hello there"]
    expected = [espeak.synthesize(t) for t in texts]
    results = [None] * (3 * len(texts))

    def work(i):
        results[i] = espeak.synthesize(texts[i % len(texts)])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # espeak's voice source keeps a little state between calls, so repeats match in their
    # phonemes and length, not sample for sample
    for i, (audio, _, segments) in enumerate(results):
        want_audio, _, want_segments = expected[i % len(texts)]
        assert [s[0] for s in segments] == [s[0] for s in want_segments]
        assert len(audio) == pytest.approx(len(want_audio), rel=0.01)
