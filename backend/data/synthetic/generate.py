"""Synthetic speech-and-motion corpus: espeak-ng speech with exact phone timings, and the
face a speaker of a given style would make while saying it.

A clip is a function of (seed, clip index) alone: its speaker is ``index % n_speakers``,
its random stream is seeded by both, so any clip can be regenerated on its own, workers
can take clips in any order, and an interrupted run resumes by skipping the clips whose
motion file exists (files are written atomically, motion last).

espeak-ng carries state from one utterance to the next inside its library (voice
variants with flutter or roughness sound slightly different on a second call), so a clip
is only reproducible when its speech comes from a fresh library. Every clip is therefore
made in its own process, forked from a clean server process that has imported everything
but never started espeak-ng (``make_clip`` for one clip, ``generate_corpus`` for many).
The corpus folder follows docs/dataset.md; ``synthetic.json`` holds the configuration it
was made with.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ... import audio_io
from ...model.stats import STATS_NAME
from ...speech import espeak
from ...speech.phones import SILENCE, phone_segments
from ...timebase import SAMPLE_RATE, SAMPLES_PER_FRAME
from ..format import (Clip, ClipRecord, DatasetFormatError,
                      assign_splits, clip_paths, frames_for_samples, load_clip, write_clip,
                      write_manifest)
from ..stats import compute_corpus_stats, save_stats
from . import text
from .augment import augment
from .face import animate
from .speakers import make_speaker, variant_pools
from .visemes import mouth_motion

logger = logging.getLogger(__name__)

CONFIG_NAME = "synthetic.json"
PROGRESS_NAME = "synthetic-progress.jsonl"  # finished clips with their metadata, for resuming
STRESS = "ˈ"


@dataclass(frozen=True)
class CorpusConfig:
    seed: int = 0
    n_clips: int = 100
    n_speakers: int = 20
    min_seconds: float = 8.5  # at least two 100-frame windows
    max_seconds: float = 16.0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    augment_probability: float = 0.8  # the rest stay clean

    @property
    def mean_seconds(self) -> float:
        return (self.min_seconds + self.max_seconds) / 2 + 0.6  # the last sentence overshoots

    def speakers(self):
        ids = [f"syn{i:04d}" for i in range(self.n_speakers)]
        splits = assign_splits(ids, self.val_fraction, self.test_fraction, self.seed)
        train_variants, held_out = variant_pools(espeak.variants(), self.seed)
        return [make_speaker(self.seed, i, splits[ids[i]], train_variants if splits[ids[i]] == "train" else held_out)
                for i in range(self.n_speakers)]


def clip_id(index: int) -> str:
    return f"clip{index:06d}"


def _pause(rng):
    """Silence between sentences: mostly short, sometimes long (seconds)."""
    return float(rng.choice([rng.uniform(0.05, 0.25), rng.uniform(0.25, 0.7), rng.uniform(0.7, 1.6)],
                            p=[0.45, 0.4, 0.15]))


def speak(speaker, rng, min_seconds, max_seconds):
    """Sentences in the speaker's voice until the clip is long enough.

    Returns (audio 16 kHz, phone segments, stressed vowel start times, sentences
    [(start, end, kind, text)]).
    """
    voice = speaker.voice
    target = rng.uniform(min_seconds, max_seconds)
    pieces, segments, stressed, sentences = [], [], [], []
    t = float(rng.uniform(0.1, 0.8))  # leading silence
    pieces.append(np.zeros(int(t * SAMPLE_RATE), np.float32))
    while t < target:
        sentence = text.sentence(rng)
        kind = "question" if sentence.endswith("?") else "exclamation" if sentence.endswith("!") else "statement"
        rate = int(np.clip(voice.rate * rng.uniform(0.9, 1.1), *espeak.RATE_RANGE))
        pitch = int(np.clip(voice.pitch + rng.integers(-6, 7) + (6 if kind == "exclamation" else 0), 0, 100))
        pitch_range = int(np.clip(voice.pitch_range + rng.integers(-10, 11) + (15 if kind != "statement" else 0), 0, 100))
        audio, rate_in, events = espeak.synthesize(sentence, voice=voice.accent, rate=rate, pitch=pitch,
                                                   pitch_range=pitch_range, variant=voice.variant)
        audio = audio_io.resample(audio, rate_in)
        # the offset counts the samples already placed, so times match the joined audio
        offset = sum(len(p) for p in pieces) / SAMPLE_RATE
        stressed += [offset + start for ipa, start, end in events if STRESS in ipa and end > start]
        segments += [(p, offset + s, offset + e) for p, s, e in phone_segments(events)]
        pieces.append(audio)
        end = offset + len(audio) / SAMPLE_RATE
        sentences.append((offset, end, kind, sentence))
        gap = _pause(rng)
        pieces.append(np.zeros(int(gap * SAMPLE_RATE), np.float32))
        t = end + gap
    audio = np.concatenate(pieces)
    frames = frames_for_samples(len(audio))
    audio = np.pad(audio, (0, max(0, frames * SAMPLES_PER_FRAME - len(audio))))[: frames * SAMPLES_PER_FRAME]
    return audio, _fill_silence(segments, len(audio) / SAMPLE_RATE), stressed, sentences


def _fill_silence(segments, duration):
    """Cover gaps between sentences (and the lead-in and tail) with SIL, merging neighbours."""
    out = []
    cursor = 0.0
    for phone, start, end in segments + [(SILENCE, duration, duration)]:
        start, end = min(start, duration), min(end, duration)
        if start > cursor + 1e-6:
            out.append((SILENCE, cursor, start))
        if end > start:
            out.append((phone, start, end))
        cursor = max(cursor, end)
    merged = []
    for segment in out:
        if merged and segment[0] == SILENCE and merged[-1][0] == SILENCE:
            merged[-1] = (SILENCE, merged[-1][1], segment[2])
        else:
            merged.append(segment)
    return merged


def generate_clip(config: CorpusConfig, index: int, speakers=None):
    """Clip ``index`` of the corpus -> (Clip, audio 16 kHz float32, meta dict).

    Reproducible only in a process where espeak-ng has not spoken yet: see ``make_clip``.
    """
    speakers = speakers or config.speakers()
    speaker = speakers[index % config.n_speakers]
    rng = np.random.default_rng([config.seed, 2, index])
    audio, segments, stressed, sentences = speak(speaker, rng, config.min_seconds, config.max_seconds)
    n_frames = frames_for_samples(len(audio))
    mouth, jaw = mouth_motion(segments, n_frames, speaker.style, stressed)
    exp, pose = animate(mouth, jaw, speaker.style, rng, audio, segments, stressed,
                        [(s, e, kind) for s, e, kind, _ in sentences])
    meta = {"text": " ".join(s[3] for s in sentences), "voice": asdict(speaker.voice)}
    if rng.random() < config.augment_probability:
        audio, meta["augmentation"] = augment(audio, rng)
    clip = Clip(exp=exp, pose=pose, expression_space="arkit", speaker=speaker.id, phones=segments)
    return clip, audio, meta


# --- corpus --------------------------------------------------------------------------------

_worker_state = {}


def _context():
    """Processes forked from a server that never ran espeak-ng (see the module docstring)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _generate_one(config_dict, index):
    return generate_clip(CorpusConfig(**config_dict), index)


def make_clip(config: CorpusConfig, index: int):
    """``generate_clip`` in a fresh process: the same (config, index) always gives the same clip."""
    with _context().Pool(1) as pool:
        return pool.apply(_generate_one, (asdict(config), index))


def _init_worker(config_dict, root):
    config = CorpusConfig(**config_dict)
    _worker_state.update(config=config, root=Path(root), speakers=config.speakers())


def _make(index):
    cpu_started = time.process_time()
    state = _worker_state
    config, root, speakers = state["config"], state["root"], state["speakers"]
    clip, audio, meta = generate_clip(config, index, speakers)
    split = speakers[index % config.n_speakers].split
    record = write_clip(root, clip_id(index), clip, audio, split, source="synthetic", meta=meta)
    return index, record, len(audio) / SAMPLE_RATE, time.process_time() - cpu_started


def _check_config(root: Path, config: CorpusConfig):
    path = root / CONFIG_NAME
    wanted = asdict(config)
    if path.exists():
        found = json.loads(path.read_text())
        if {k: v for k, v in found.items() if k != "n_clips"} != {k: v for k, v in wanted.items() if k != "n_clips"}:
            raise DatasetFormatError(
                f"{root} was generated with another configuration ({path}); use a new folder or the same "
                "settings (only the number of clips may grow)")
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(wanted, indent=2) + "\n")


def generate_corpus(root, config: CorpusConfig, workers: int = 1, progress=None) -> dict:
    """Generate (or finish) the corpus in ``root``; returns a summary with timings.

    ``progress(done, total)`` is called after each clip.
    """
    root = Path(root)
    _check_config(root, config)
    speakers = config.speakers()
    journal = root / PROGRESS_NAME
    logged = {}
    if journal.exists():
        for line in journal.read_text().splitlines():
            try:
                record = ClipRecord(**json.loads(line))
            except (TypeError, json.JSONDecodeError):
                continue  # a line cut short by an interruption
            logged[record.id] = record
    todo, records = [], {}
    for index in range(config.n_clips):
        speaker = speakers[index % config.n_speakers]
        audio_path, motion_path = clip_paths(root, speaker.id, clip_id(index))
        if (root / motion_path).exists() and (root / audio_path).exists():
            if clip_id(index) in logged:
                records[index] = logged[clip_id(index)]
                continue
            clip = load_clip(root / motion_path)
            records[index] = ClipRecord(id=clip_id(index), speaker=speaker.id, split=speaker.split,
                                        audio=audio_path.as_posix(), motion=motion_path.as_posix(),
                                        frames=clip.frames, expression_space=clip.expression_space,
                                        source="synthetic")
        else:
            todo.append(index)
    logger.info("%d clips to make, %d already there", len(todo), len(records))
    started = time.perf_counter()
    seconds = cpu = 0.0
    # one process per clip (maxtasksperchild=1) so that every clip starts a fresh espeak-ng
    pool = _context().Pool(max(1, workers), _init_worker, (asdict(config), str(root)), maxtasksperchild=1)
    results = pool.imap_unordered(_make, todo, chunksize=1)
    try:
        with open(journal, "a") as log:
            for done, (index, record, clip_seconds, clip_cpu) in enumerate(results, 1):
                records[index] = record
                log.write(json.dumps(asdict(record)) + "\n")
                log.flush()
                seconds += clip_seconds
                cpu += clip_cpu
                if progress:
                    progress(done, len(todo))
    finally:
        pool.close()
        pool.join()
    elapsed = time.perf_counter() - started
    write_manifest(root, records.values())
    if any(r.split == "train" for r in records.values()):
        save_stats(root / STATS_NAME, compute_corpus_stats(root))
    return {"clips_made": len(todo), "clips_total": len(records), "audio_seconds_made": round(seconds, 2),
            "compute_seconds": round(elapsed, 2), "cpu_seconds_in_workers": round(cpu, 2), "workers": workers}
