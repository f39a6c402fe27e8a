"""Phone recognition with pocketsphinx's en-us acoustic model (trained on real speech).

The decoder always runs a phone loop (``allphone`` search with the phone bigram model that
ships with pocketsphinx). It then forced-aligns words: the transcript when there is one,
otherwise the words its large-vocabulary decoder (pocketsphinx's en-us language model and
dictionary) heard, because the dictionary's pronunciations place the lip closures of real
speech more often than the phone loop does (32 against 26 of 35 on the recordings in
assets/real_speech). An alignment that fails or does not match the audio is replaced by
the phone loop's answer, so there is always a result. Matching is judged two ways: the
alignment agrees with the phone loop's mouth classes on enough speech frames, and its
acoustic score is not far below the phone loop's. Words the decoder heard must pass both:
its language model writes down English words whatever the language, and English words
forced onto Spanish or German speech miss most of its lip closures. A transcript must
pass either: under noise the phone loop goes astray while the true words still fit.

Audio of any length is cut at quiet points into chunks of at most ``max_chunk_s`` and
decoded chunk by chunk, so the decoder's memory does not grow with the input.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass

import numpy as np

from backend.speech.phones import PHONE_INDEX, PHONE_MOUTH_CLASS, SILENCE, ipa_to_phones, tidy_segments

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FRAME_S = 0.01  # pocketsphinx analyses 10 ms frames
_FRAME = int(SAMPLE_RATE * FRAME_S)

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
QUIET_DB = 55.0  # a phone this far below the loud frames is not speech
ABSOLUTE_QUIET_DB = -80.0  # nor is one below this level (dB full scale)


@dataclass
class Recognition:
    """Phone segments covering the audio, and how much of it came from forced alignment."""
    segments: list  # [(phone, start_s, end_s)], contiguous from 0 to the audio's end
    aligned_s: float = 0.0  # seconds decoded by forced alignment (the rest: phone loop)


class Recognizer:
    """pocketsphinx decoders, loaded once; one ``recognize`` call at a time (a lock).

    max_chunk_s: longest piece decoded at once; chunks end at the quietest 10 ms frame
    between ``0.6 * max_chunk_s`` and ``max_chunk_s``.
    min_agreement: fraction of speech frames on which an alignment agrees with the phone
    loop when it shares the mouth class the phone loop heard. On real recordings matching
    transcripts scored 0.62-0.83 and wrong ones 0.06-0.50.
    recognize_words: without a transcript, align the words the language model hears
    (False: the phone loop's answer alone).
    """

    def __init__(self, max_chunk_s: float = 25.0, min_agreement: float = 0.55, recognize_words: bool = True):
        import pocketsphinx

        self.max_chunk_s = max_chunk_s
        self.min_agreement = min_agreement
        model = os.path.join(pocketsphinx.get_model_path(), "en-us")
        self._loop = pocketsphinx.Decoder(
            samprate=SAMPLE_RATE, allphone=os.path.join(model, "en-us-phone.lm.bin"),
            loglevel="FATAL", **PHONE_LOOP)
        self._aligners = [pocketsphinx.Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", **config)
                          for config in ALIGN_CONFIGS]
        self._word_decoder = pocketsphinx.Decoder(samprate=SAMPLE_RATE, loglevel="FATAL") if recognize_words else None
        self._lock = threading.Lock()

    def recognize(self, audio: np.ndarray, transcript: str | None = None) -> Recognition:
        """Phones heard in ``audio`` (float32 mono 16 kHz, any length)."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        duration = len(audio) / SAMPLE_RATE
        pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
        chunks = split_points(audio, self.max_chunk_s)
        words = _words(transcript) if transcript else []
        with self._lock:
            loops = [self._phone_loop(pcm[a:b], a / SAMPLE_RATE) for a, b in chunks]
            heard = [loop for loop, _ in loops]
            segments, aligned = [], 0.0
            recognized = not words and self._word_decoder is not None
            for (a, b), (loop, loop_score), chunk_words in zip(chunks, loops, _share_words(words, heard)):
                if recognized:
                    chunk_words = self._heard_words(pcm[a:b])
                result = self._align(pcm[a:b], a / SAMPLE_RATE, chunk_words, loop, loop_score, recognized) \
                    if chunk_words else None
                if result is None:
                    segments += loop
                else:
                    segments += result
                    aligned += (b - a) / SAMPLE_RATE
        return Recognition(tidy_segments(_quiet_is_silence(segments, audio), duration), aligned)

    def _phone_loop(self, pcm: np.ndarray, offset: float) -> tuple:
        """(phone segments, acoustic score per frame); nothing heard: ([], None)."""
        if len(pcm) < _FRAME:
            return [], None
        decoder = self._loop
        try:
            _decode(decoder, pcm)
        except RuntimeError as error:  # too short or too odd to decode: nothing heard
            logger.debug("phone recognition failed (%s)", error)
            return [], None
        found = list(decoder.seg() or ())  # None when nothing was decoded
        if not found:
            return [], None
        # seg() end frames are inclusive
        segments = [(_phone(s.word), offset + s.start_frame * FRAME_S, offset + (s.end_frame + 1) * FRAME_S)
                    for s in found]
        return segments, sum(s.ascore for s in found) / decoder.n_frames()

    def _heard_words(self, pcm: np.ndarray) -> list:
        """The words the large-vocabulary decoder hears in ``pcm`` (none when it hears nothing)."""
        if len(pcm) < _FRAME:
            return []
        try:
            _decode(self._word_decoder, pcm)
        except RuntimeError as error:
            logger.debug("word recognition failed (%s)", error)
            return []
        hypothesis = self._word_decoder.hyp()
        return _words(hypothesis.hypstr) if hypothesis is not None else []

    def _align(self, pcm: np.ndarray, offset: float, words: list, loop: list, loop_score: float | None,
               recognized: bool):
        """Phone-level forced alignment, or None when it fails or does not match the audio.

        It matches when it agrees with the phone loop (``min_agreement``) and fits the sound
        (``MAX_SCORE_DROP`` below the phone loop's ``loop_score`` per frame). Words the
        decoder ``recognized`` must do both; a transcript, which is what was said, either:
        under noise the phone loop goes astray and a true transcript still fits the sound.
        Where the phone loop heard nothing (``loop_score`` None) nothing can fit.
        """
        for decoder in self._aligners:
            try:
                for word in words:
                    if decoder.lookup_word(word) is None:
                        decoder.add_word(word, " ".join(_pronounce(word)), True)
                decoder.set_align_text(" ".join(words))
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
            segments = [(_phone(p.name), offset + p.start * FRAME_S, offset + (p.start + p.duration) * FRAME_S)
                        for p in phones]
            if all(phone == SILENCE for phone, _, _ in segments):
                continue  # the words were not placed anywhere
            drop = np.inf if loop_score is None else loop_score - sum(p.score for p in phones) / decoder.n_frames()
            agreement = mouth_agreement(segments, loop, offset, len(pcm) / SAMPLE_RATE)
            agrees, fits = agreement >= self.min_agreement, drop <= MAX_SCORE_DROP
            if (agrees and fits) if recognized else (agrees or fits):
                return segments
            logger.info("the %s do not match the audio (agreement %.2f, score %.1f below the phone loop's); "
                        "using phone recognition", "words heard" if recognized else "transcript's words",
                        agreement, drop)
            return None
        logger.info("forced alignment failed; using phone recognition")
        return None


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


def _words(transcript: str) -> list:
    """Lower-case words (letters of any script and digits, inner apostrophes kept)."""
    return re.findall(r"[^\W_]+(?:'[^\W_]+)*", transcript.lower().replace("’", "'"))


def _pronounce(word: str) -> list:
    """Pronunciation of a word the dictionary lacks, as espeak-ng says it."""
    from backend.speech.espeak import synthesize

    _, _, segments = synthesize(word)
    phones = [p for ipa, a, b in segments for p in ipa_to_phones(ipa) if p != SILENCE]
    return phones or ["AH"]


def _share_words(words: list, heard: list) -> list:
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


def _quiet_is_silence(segments: list, audio: np.ndarray) -> list:
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
        i, j = int(start / FRAME_S), max(int(np.ceil(end / FRAME_S)), int(start / FRAME_S) + 1)
        window = energy_db[i:j]
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
    """The shared recognizer (models load on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Recognizer()
    return _default


def recognize(audio: np.ndarray, transcript: str | None = None) -> Recognition:
    """``Recognizer.recognize`` on the shared recognizer."""
    return default_recognizer().recognize(audio, transcript)
