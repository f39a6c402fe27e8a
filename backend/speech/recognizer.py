"""Timed phones from speech: words from Whisper (or a transcript), placed by pocketsphinx.

Audio is cut at pauses into chunks of at most ``MAX_CHUNK_S``; each chunk is recognized on
its own, so memory does not grow with the input and chunks can run in parallel
(``backend.speech.workers``) with the same result as one after the other.

For each chunk, pocketsphinx's en-us acoustic model (trained on real speech) runs a phone
loop, which is the check and the fallback, and force-aligns words: the transcript's share
when there is one, otherwise the words Whisper heard (``backend.speech.whisper``). An
alignment is kept only when it matches the sound, judged two ways: it agrees with the phone
loop's mouth classes on enough speech frames, and its acoustic score is not far below the
phone loop's (it fits). A transcript, which is what was said, must pass either check: under
noise the phone loop goes astray while the true words still fit. Whisper's words must fit,
or agree and nearly fit: an English-only model writes English words whatever the language,
and those do not fit Spanish or German speech. When the alignment is refused or fails, it
is tried again on denoised audio (first, when the chunk sounds noisy;
``backend.speech.denoise``); if that fails too, pocketsphinx's own words are tried on
clean audio (where Whisper misheard a word so badly that the aligner fails) and must agree
and fit; last, the phone loop's answer is used, so there is always a result.

Words are pronounced by pocketsphinx's English dictionary, or by espeak-ng: for words it
lacks, and for every word of a language other than English (a multilingual Whisper model
says which), in that language's phonemes mapped onto the phone set.

An alignment that is kept also says where each of its words lies (``ChunkResult.timed_words``,
``Recognition.timed_words``): the take's timed words of the protocol (``settings.words``).
A chunk left to the phone loop has none.
"""
from __future__ import annotations

import ctypes
import functools
import logging
import os
import threading
from dataclasses import dataclass, field

import numpy as np

from backend.speech.phones import (PHONE_INDEX, PHONE_MOUTH_CLASS, SILENCE, UnknownPhonemeError, ipa_to_phones,
                                   tidy_segments)
from backend.speech.spoken_text import spoken_words
from backend.timebase import SAMPLE_RATE

logger = logging.getLogger(__name__)

FRAME_S = 0.01  # pocketsphinx analyses 10 ms frames
_FRAME = int(SAMPLE_RATE * FRAME_S)
PAD_FRAMES = 10  # silence around every utterance decoded (see _pcm)
# Longest chunk recognized at once: long enough for Whisper's context and the aligner,
# short enough that two cores share a minute of speech evenly.
MAX_CHUNK_S = 15.0

# Phone loop settings measured to recognise real speech well (docs/speech-frontend.md).
PHONE_LOOP = dict(lw=2.0, beam=1e-20, pbeam=1e-20)
# Forced alignment is tried with pocketsphinx's default beams first (they align real
# speech that the wide ones drop) and then with wide beams (they rescue some synthetic
# utterances that the default ones lose).
ALIGN_CONFIGS = ({}, dict(beam=1e-100, wbeam=1e-80, pbeam=1e-100, lw=1.0))
# An alignment fits the sound when its acoustic score is at most this much below the
# phone loop's, per 10 ms frame, in pocketsphinx's score units. Measured
# (docs/speech-frontend.md), words heard: real English 4.8-18.3 below (16 of 17
# recordings; an 11 kHz one 26.5); espeak-ng speech in nine other languages 23.1-37.9
# (espeak-ng English 27.5-36.3). True transcripts of real English 6-18, and up to 25 with
# white noise at 10 dB SNR; wrong ones 29-67.
MAX_SCORE_DROP = 21.0
# Whisper's words that agree with the phone loop may fit a little worse: under white noise
# 10 dB under the voice, denoised alignments of right words agreed (0.58-0.67) and dropped
# 21.0-22.1; wrong transcripts dropped 29-67.
AGREEING_MAX_SCORE_DROP = 25.0
QUIET_DB = 55.0  # a phone this far below the loud frames is not speech
ABSOLUTE_QUIET_DB = -80.0  # nor is one below this level (dB full scale)

# Where the words of a chunk come from, and which checks their alignment must pass.
TRANSCRIPT, WHISPER, POCKETSPHINX, PHONE_LOOP_ONLY = "transcript", "whisper", "pocketsphinx", "phone loop"
WORD_SOURCES = (WHISPER, POCKETSPHINX, PHONE_LOOP_ONLY)


@dataclass
class ChunkResult:
    """What one chunk gave: contiguous phone segments over it, and where they came from."""
    segments: list  # [(phone, start_s, end_s)] in the whole audio's time
    duration: float  # seconds of audio in the chunk
    source: str  # TRANSCRIPT or WHISPER / POCKETSPHINX (aligned words), or PHONE_LOOP_ONLY
    words: list = field(default_factory=list)  # the words tried (aligned or refused)
    language: str = "en"
    denoised: bool = False  # aligned on denoised audio
    timed_words: list = field(default_factory=list)  # [(word, start_s, end_s)] aligned, in the whole audio's time


@dataclass
class Recognition:
    """Phone segments covering the audio, and how much of it came from forced alignment."""
    segments: list  # [(phone, start_s, end_s)], contiguous from 0 to the audio's end
    aligned_s: float = 0.0  # seconds decoded by forced alignment (the rest: phone loop)
    chunks: list = field(default_factory=list)  # ChunkResult per chunk, in order

    @property
    def words(self) -> list:
        """The words that were aligned or tried, in order."""
        return [word for chunk in self.chunks for word in chunk.words]

    @property
    def timed_words(self) -> list:
        """[(word, start_s, end_s)] of the words aligned, in order (none where a chunk fell
        back to the phone loop)."""
        return [word for chunk in self.chunks for word in chunk.timed_words]


@dataclass
class WordAlignment:
    """A forced alignment that matches the sound: its phones and where each word lies."""
    segments: list  # [(phone, start_s, end_s)] in the whole audio's time
    words: list  # [(word, start_s, end_s)] in the whole audio's time, the words given, in order


@dataclass
class PhoneLoop:
    segments: list  # [(phone, start_s, end_s)] heard, in the whole audio's time
    score: float | None  # acoustic score per 10 ms frame; None when nothing was heard


class Recognizer:
    """The decoders of one process, loaded once; one call at a time (a lock).

    words: where the words of a chunk without a transcript come from: ``WHISPER`` (default),
    ``POCKETSPHINX`` (its en-us language model; slower and worse, the path before Whisper)
    or ``PHONE_LOOP_ONLY``. speech_model: a faster-whisper model folder (None: the bundled
    tiny.en). min_agreement: fraction of speech frames on which an alignment must share the
    phone loop's mouth class to agree with it (real recordings: matching transcripts
    0.62-0.83, wrong ones 0.06-0.50).
    """

    def __init__(self, words: str = WHISPER, speech_model=None, min_agreement: float = 0.55,
                 device: str = "cpu", threads: int = 1):
        import pocketsphinx

        if words not in WORD_SOURCES:
            raise ValueError(f"words must be one of {WORD_SOURCES}, got {words!r}")
        self.word_source = words
        self.min_agreement = min_agreement
        model = os.path.join(pocketsphinx.get_model_path(), "en-us")
        self._loop = pocketsphinx.Decoder(
            samprate=SAMPLE_RATE, allphone=os.path.join(model, "en-us-phone.lm.bin"),
            loglevel="FATAL", **PHONE_LOOP)
        # Alignment needs the dictionary, not the language model (which would cost 64 MB each).
        self._aligners = [pocketsphinx.Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", lm=None, **config)
                          for config in ALIGN_CONFIGS]
        self._word_decoder = None  # kept when pocketsphinx's words are the word source
        self._whisper = None
        if words == WHISPER:
            from backend.speech.whisper import WhisperWords

            self._whisper = WhisperWords(speech_model, device=device, threads=threads)
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- whole audio

    def recognize(self, audio: np.ndarray, transcript: str | None = None) -> Recognition:
        """Phones heard in ``audio`` (float32 mono 16 kHz, any length), chunk after chunk."""
        def run(method, tasks):
            return [getattr(self, method)(**task) for task in tasks]

        return recognize_chunks(run, audio, transcript)

    # ---------------------------------------------------------------- one chunk

    def phone_loop(self, audio: np.ndarray, offset: float = 0.0) -> PhoneLoop:
        """The phone loop's answer for ``audio`` starting at ``offset`` seconds."""
        if np.size(audio) < _FRAME:
            return PhoneLoop([], None)
        pcm = _pcm(audio)
        with self._lock:
            decoder = self._loop
            try:
                _decode(decoder, pcm)
            except RuntimeError as error:  # too short or too odd to decode: nothing heard
                logger.debug("phone recognition failed (%s)", error)
                return PhoneLoop([], None)
            found = list(decoder.seg() or ())  # None when nothing was decoded
            if not found:
                return PhoneLoop([], None)
            # seg() end frames are inclusive
            segments = _unpad([(_phone(s.word), s.start_frame, s.end_frame + 1) for s in found], offset, audio)
            return PhoneLoop(segments, sum(s.ascore for s in found) / decoder.n_frames())

    def recognize_chunk(self, audio: np.ndarray, offset: float = 0.0, words: list | None = None,
                        loop: PhoneLoop | None = None) -> ChunkResult:
        """Phones of one chunk: ``words`` (a transcript's share) or the words heard, aligned
        and checked; the phone loop where they do not match the sound."""
        from backend.speech import denoise as denoiser

        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        source, language = TRANSCRIPT, "en"
        if words is None:
            words, language, source = self._heard(audio)
        # Under noise the aligner does better on denoised audio, on clean audio worse: the
        # other version is the second try. The first one tried gives the fallback.
        noisy = denoiser.sounds_noisy(audio)
        order = (False,)
        if words and denoiser.available():
            order = (True, False) if noisy else (False, True)
        fallback = None
        for use_denoised in order:
            heard = denoiser.denoise(audio) if use_denoised else audio
            heard_loop = loop if loop is not None and not use_denoised else self.phone_loop(heard, offset)
            fallback = fallback or (heard, heard_loop)
            aligned = self.align_words(heard, words, source, offset, language, heard_loop) if words else None
            if aligned is not None:
                return _chunk_result(aligned.segments, heard, offset, source, words, language, use_denoised,
                                     aligned.words)
        heard, heard_loop = fallback
        if source == WHISPER and language == "en" and not noisy:
            # A second opinion before the phone loop: where Whisper misheard a word badly
            # enough that the aligner fails, pocketsphinx's own words may still place it.
            # Not under noise, where its words are mostly wrong (word error rate 0.4-0.95)
            # and the decoding costs more than all the rest.
            other = self._pocketsphinx_words(audio)
            aligned = self.align_words(heard, other, POCKETSPHINX, offset, language, heard_loop) \
                if other and other != words else None
            if aligned is not None:
                return _chunk_result(aligned.segments, heard, offset, POCKETSPHINX, other, language,
                                     heard is not audio, aligned.words)
        return _chunk_result(heard_loop.segments, heard, offset, PHONE_LOOP_ONLY, words, language, False)

    def _heard(self, audio: np.ndarray) -> tuple:
        """(words, language, source) heard in ``audio`` by this recognizer's word source."""
        if self._whisper is not None:
            heard = self._whisper.hear(audio)
            return heard.words, heard.language, WHISPER
        if self.word_source == POCKETSPHINX:
            return self._pocketsphinx_words(audio), "en", POCKETSPHINX
        return [], "en", PHONE_LOOP_ONLY

    def _pocketsphinx_words(self, audio: np.ndarray) -> list:
        if np.size(audio) < _FRAME:
            return []
        pcm = _pcm(audio)
        with self._lock:
            decoder = self._word_decoder
            if decoder is None:
                import pocketsphinx

                decoder = pocketsphinx.Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
                if self.word_source == POCKETSPHINX:
                    self._word_decoder = decoder
            # As Whisper's second opinion, used rarely, the decoder (its language model
            # and search: about 100 MB) is made for the chunk and freed after it.
            try:
                _decode(decoder, pcm)
            except RuntimeError as error:
                logger.debug("word recognition failed (%s)", error)
                return []
            hypothesis = decoder.hyp()
            text = hypothesis.hypstr if hypothesis is not None else ""
            if decoder is not self._word_decoder:
                del decoder
                _release_freed_memory()
        return spoken_words(text)

    def align_words(self, audio: np.ndarray, words: list, source: str = TRANSCRIPT, offset: float = 0.0,
                    language: str = "en", loop: PhoneLoop | None = None) -> WordAlignment | None:
        """Phone-level forced alignment of ``words`` (from ``source``), or None when it fails
        or does not match the audio. ``loop``: the phone loop of ``audio`` if already known.

        It agrees when it shares the phone loop's mouth classes (``min_agreement``) and fits
        when its score is at most ``MAX_SCORE_DROP`` below the phone loop's per frame. A
        transcript must agree or fit; Whisper's words fit, or agree and nearly fit
        (``AGREEING_MAX_SCORE_DROP``); pocketsphinx's own words do both.
        Where the phone loop heard nothing (score None) nothing can fit.
        """
        if np.size(audio) < _FRAME or not words:
            return None
        pcm = _pcm(audio)
        loop = loop if loop is not None else self.phone_loop(audio, offset)
        with self._lock:
            for decoder in self._aligners:
                try:
                    entries = [self._dictionary_entry(decoder, word, language) for word in words]
                    decoder.set_align_text(" ".join(entries))
                    _decode(decoder, pcm)  # word alignment first,
                    decoder.set_alignment()
                    _decode(decoder, pcm)  # then phones and states within the words
                    alignment = decoder.get_alignment()
                except RuntimeError as error:
                    logger.debug("forced alignment failed (%s)", error)
                    continue
                if alignment is None:
                    continue
                phones = list(alignment.phones())
                segments = _unpad([(_phone(p.name), p.start, p.start + p.duration) for p in phones], offset, audio)
                if all(phone == SILENCE for phone, _, _ in segments):
                    continue  # the words were not placed anywhere
                drop = np.inf if loop.score is None else loop.score - sum(p.score for p in phones) / decoder.n_frames()
                agreement = mouth_agreement(segments, loop.segments, offset, np.size(audio) / SAMPLE_RATE)
                agrees, fits = agreement >= self.min_agreement, drop <= MAX_SCORE_DROP
                keep = {TRANSCRIPT: agrees or fits,
                        WHISPER: fits or (agrees and drop <= AGREEING_MAX_SCORE_DROP)}.get(source, agrees and fits)
                if keep:
                    return WordAlignment(segments, _placed_words(alignment, words, offset, audio))
                logger.info("the %s words do not match the audio at %.1f s (agreement %.2f, score %.1f below the "
                            "phone loop's)", source, offset, agreement, drop)
                return None
        logger.info("forced alignment of the %s words failed at %.1f s", source, offset)
        return None

    @staticmethod
    def _dictionary_entry(decoder, word: str, language: str) -> str:
        """The decoder's name for ``word``, added with espeak-ng's pronunciation if needed."""
        english = language.lower().startswith("en")
        entry = word if english else f"{word}_{language}"
        if decoder.lookup_word(entry) is None:
            decoder.add_word(entry, " ".join(_pronounce(word, "en-us" if english else language)), True)
        return entry


def recognize_chunks(run, audio: np.ndarray, transcript: str | None = None) -> Recognition:
    """Recognition of ``audio`` through ``run(method, tasks) -> results``, which calls the
    ``Recognizer`` method named ``method`` once per task (keyword dict), in order or in
    parallel; the result is the same either way.

    A transcript is shared among the chunks in proportion to the speech phones each one's
    phone loop heard.
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    duration = len(audio) / SAMPLE_RATE
    chunks = split_points(audio, MAX_CHUNK_S)
    words = spoken_words(transcript) if transcript else None
    tasks = [{"audio": audio[a:b], "offset": a / SAMPLE_RATE} for a, b in chunks]
    if words is not None:
        if len(tasks) > 1:
            loops = run("phone_loop", tasks)
            tasks = [{**task, "loop": loop} for task, loop in zip(tasks, loops)]
            shares = share_words(words, [loop.segments for loop in loops])
        else:
            shares = [words]
        tasks = [{**task, "words": share} for task, share in zip(tasks, shares)]
    results = run("recognize_chunk", tasks) if len(audio) else []
    segments = [s for result in results for s in result.segments]
    aligned = sum(r.duration for r in results if r.source != PHONE_LOOP_ONLY)
    return Recognition(tidy_segments(segments, duration), aligned, results)


def _chunk_result(segments: list, audio: np.ndarray, offset: float, source: str, words: list, language: str,
                  denoised: bool, timed_words: list = ()) -> ChunkResult:
    """A chunk's answer: its segments with the quiet made silent, contiguous over the chunk
    in the whole audio's time, and the words aligned with their times."""
    duration = len(audio) / SAMPLE_RATE
    heard = _quiet_is_silence(segments, audio, offset)
    local = tidy_segments([(p, a - offset, b - offset) for p, a, b in heard], duration)
    return ChunkResult([(p, a + offset, b + offset) for p, a, b in local], duration, source, words, language,
                       denoised, list(timed_words))


def _placed_words(alignment, words: list, offset: float, audio: np.ndarray) -> list:
    """[(word, start_s, end_s)] of ``words`` where ``alignment`` placed them, in the whole
    audio's time; [] when its word entries (silences and fillers aside) are not one per word."""
    placed = [(entry.start, entry.start + entry.duration) for entry in alignment.words()
              if not entry.name.startswith(("<", "+"))]  # <sil>, <s>, </s>, +NSN+...
    if len(placed) != len(words):
        logger.info("the alignment placed %d entries for %d words; their times are left out", len(placed), len(words))
        return []
    return _unpad([(word, start, end) for word, (start, end) in zip(words, placed)], offset, audio)


def _pcm(audio: np.ndarray) -> np.ndarray:
    """16-bit samples with ``PAD_FRAMES`` of silence on each side: the aligner fails on
    speech that runs to the very edge of the audio (as at a chunk's cut)."""
    pad = np.zeros(PAD_FRAMES * _FRAME, np.int16)
    samples = (np.clip(np.asarray(audio, np.float32).reshape(-1), -1.0, 1.0) * 32767.0).astype(np.int16)
    return np.concatenate([pad, samples, pad])


def _unpad(frames: list, offset: float, audio: np.ndarray) -> list:
    """[(phone, start_frame, end_frame)] of padded pcm -> [(phone, start_s, end_s)] within
    the audio, in the whole audio's time."""
    duration = np.size(audio) / SAMPLE_RATE
    out = []
    for phone, start, end in frames:
        a = min(max((start - PAD_FRAMES) * FRAME_S, 0.0), duration)
        b = min(max((end - PAD_FRAMES) * FRAME_S, 0.0), duration)
        if b > a:
            out.append((phone, offset + a, offset + b))
    return out


def _release_freed_memory() -> None:
    """Hand freed heap memory back to the system (glibc keeps it otherwise, and a worker
    that once held a large decoder would stay that large)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _decode(decoder, pcm: np.ndarray) -> None:
    # The noise estimate carries over from the previous utterance; start every one afresh
    # so that a result does not depend on what was decoded before.
    decoder.reinit_feat()
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()


def _phone(name: str) -> str:
    # fillers (+NSN+, +SPN+, +BREATH+...), <sil>, <s> and </s> are no mouth movement
    return name if name in PHONE_INDEX else SILENCE


@functools.lru_cache(maxsize=4096)
def _pronounce(word: str, voice: str = "en-us") -> tuple:
    """Pronunciation of a word as espeak-ng's ``voice`` says it, in the phone set
    (remembered: every aligner and every chunk asks for the same words again)."""
    from backend.speech.espeak import EspeakError, synthesize

    try:
        _, _, segments = synthesize(word, voice=voice)
    except EspeakError as error:  # no voice for that language: an English reading
        logger.info("%s; pronouncing %r as English", error, word)
        _, _, segments = synthesize(word)
    phones = []
    for ipa, _, _ in segments:
        try:
            phones += [p for p in ipa_to_phones(ipa) if p != SILENCE]
        except UnknownPhonemeError:
            phones.append("AH")  # a sound the table lacks still takes time
    return tuple(phones) or ("AH",)


def share_words(words: list, heard: list) -> list:
    """Split the transcript among chunks in proportion to the speech phones heard in each."""
    if len(heard) == 1:
        return [words]
    counts = np.array([sum(p != SILENCE for p, _, _ in chunk) for chunk in heard], dtype=float)
    if not words or counts.sum() == 0:
        return [words if i == 0 else [] for i in range(len(heard))]
    edges = np.round(np.cumsum(counts) / counts.sum() * len(words)).astype(int)
    starts = np.concatenate([[0], edges[:-1]])
    return [words[a:b] for a, b in zip(starts, edges)]


def split_points(audio: np.ndarray, max_chunk_s: float) -> list:
    """[(start, end)] sample ranges of at most ``max_chunk_s``, cut at quiet 10 ms frames."""
    n = len(audio)
    longest = max(int(max_chunk_s * SAMPLE_RATE) // _FRAME, 1) * _FRAME
    if n <= longest:
        return [(0, n)]
    frames = n // _FRAME
    energy = np.square(audio[: frames * _FRAME].reshape(frames, _FRAME)).mean(axis=1)
    # a 100 ms average finds pauses rather than single quiet frames inside a stop closure
    energy = np.convolve(energy, np.ones(10) / 10, mode="same")
    chunks, start = [], 0
    while n - start > longest:
        # the last chunk keeps at least a second so that it decodes like the others
        hi = min(start + longest, n - SAMPLE_RATE) // _FRAME
        lo = min(start // _FRAME + int(0.6 * longest) // _FRAME, hi - 1)
        cut = (lo + int(np.argmin(energy[lo:hi]))) * _FRAME
        chunks.append((start, cut))
        start = cut
    chunks.append((start, n))
    return chunks


def _quiet_is_silence(segments: list, audio: np.ndarray, offset: float = 0.0) -> list:
    """Phones heard where there is next to no sound become silence.

    The decoder normalises its input, so digital silence or faint hum between utterances
    can come out as phones; a mouth should stay shut there.
    """
    if not len(audio):
        return segments
    frames = len(audio) // _FRAME
    energy_db = 10 * np.log10(np.square(audio[: frames * _FRAME].reshape(frames, _FRAME)).mean(axis=1) + 1e-12) \
        if frames else np.full(1, -120.0)
    floor = max(np.percentile(energy_db, 95) - QUIET_DB, ABSOLUTE_QUIET_DB)
    out = []
    for phone, start, end in segments:
        i = int((start - offset) / FRAME_S)
        j = max(int(np.ceil((end - offset) / FRAME_S)), i + 1)
        window = energy_db[max(i, 0):j]
        quiet = not len(window) or 10 * np.log10(np.mean(10 ** (window / 10))) < floor
        out.append((SILENCE if quiet else phone, start, end))
    return out


def mouth_agreement(a: list, b: list, offset: float, duration: float) -> float:
    """Fraction of 10 ms frames, among those where either side speaks, with equal mouth class."""
    n = max(int(round(duration / FRAME_S)), 1)
    classes = []
    for segments in (a, b):
        frames = np.zeros(n, dtype=np.int64)  # 0 = silence
        for phone, start, end in segments:
            i, j = int(round((start - offset) / FRAME_S)), int(round((end - offset) / FRAME_S))
            frames[max(i, 0):max(j, 0)] = PHONE_MOUTH_CLASS[PHONE_INDEX[phone]]
        classes.append(frames)
    speech = (classes[0] != 0) | (classes[1] != 0)
    if not speech.any():
        return 1.0
    return float(np.mean(classes[0][speech] == classes[1][speech]))


_default: Recognizer | None = None
_default_lock = threading.Lock()


def default_recognizer() -> Recognizer:
    """The shared recognizer of this process (models load on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Recognizer()
    return _default


def recognize(audio: np.ndarray, transcript: str | None = None) -> Recognition:
    """``Recognizer.recognize`` on the shared recognizer."""
    return default_recognizer().recognize(audio, transcript)
