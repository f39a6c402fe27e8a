"""How well the speech front-end hears real voices, clean and degraded, and how fast.

Two front-ends, both in the service's worker processes (``backend.speech.workers``, one per
core): the product path (Whisper tiny.en writes the words, pocketsphinx aligns them, its
phone loop checks and falls back) and the path before it (pocketsphinx's own language model
writes the words). Per condition (clean, white noise 20 and 10 dB under the voice, babble
10 dB) and front-end, with no transcript (what the add-on's users get):
- word error rate of the words written, against the transcript;
- bilabial closures (p/b/m) found, against forced alignment of the true transcript on the
  clean recording (that reference shares pocketsphinx's acoustic model, which flatters it);
- mouth-class accuracy per 25 fps frame against that reference;
- wall time of the front-end per second of audio, per recording (fixed costs included) and
  on one long clip made of all recordings (the throughput of long takes), and the workers'
  CPU time per second of audio on that clip (what the work costs however busy the machine
  is: divided by the cores, it is the wall time on an idle machine).

Also printed, for the clean recordings: the phone loop's error rates against the reference
(which set ``ErrorModel``'s defaults) and the same for the true timings corrupted by
``ErrorModel``; and, on espeak-ng speech in four languages, how many bilabial closures the
English front-end finds.

Data: a folder of recordings (WAV, FLAC, OGG, MP3; any rate and channels) with ``NAME.txt``
transcripts; by default the eleven in assets/real_speech.

    nice .venv/bin/python benchmarks/speech_frontend.py [--data DIR] [--workers N] [--long-minutes 60]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from backend.audio_io import load_audio  # noqa: E402
from backend.evaluation.evaluate import real_recordings  # noqa: E402
from backend.speech import espeak  # noqa: E402
from backend.speech.errors import ErrorModel  # noqa: E402
from backend.speech.features import phone_occupancy  # noqa: E402
from backend.speech.phones import (MOUTH_CLASS_INDEX, MOUTH_CLASSES, PHONE_MOUTH_CLASS, SILENCE, mouth_class,  # noqa: E402
                                   phone_segments)
from backend.speech.prosody import n_frames  # noqa: E402
from backend.speech.recognizer import PHONE_LOOP_ONLY, POCKETSPHINX, WHISPER, Recognizer  # noqa: E402
from backend.speech.spoken_text import spoken_words  # noqa: E402
from backend.timebase import SAMPLE_RATE  # noqa: E402
from backend.speech.workers import SpeechWorkers  # noqa: E402
from degraded_audio import conditions  # noqa: E402

SIMULATIONS = 10  # corruptions drawn per recording: the set is small, one draw is noisy
CONDITIONS = ("clean", "white noise, 20 dB SNR", "white noise, 10 dB SNR", "babble, 10 dB SNR")
FRONT_ENDS = {"Whisper words + alignment": WHISPER, "pocketsphinx words + alignment (before)": POCKETSPHINX}
OTHER_LANGUAGES = {
    "en-us": "My mother bought a big blue map from a baby bear. We moved five fine violins over the river.",
    "de": "Meine Mutter baut ein großes blaues Boot. Wir waren am Bahnhof mit dem Bus und der Bahn.",
    "es": "Mi mamá compró un mapa bonito en Barcelona. Vamos a beber vino blanco en el bosque.",
    "fr": "Ma mère a mis du beurre sur le pain. Nous avons vu un bateau blanc au bord de la mer.",
}


def mouth_frames(segments, n: int) -> np.ndarray:
    """Mouth class index per 25 fps frame (the class filling most of the frame)."""
    occupancy = phone_occupancy(segments, n)
    by_class = np.zeros((n, len(MOUTH_CLASSES)))
    np.add.at(by_class.T, np.array(PHONE_MOUTH_CLASS), occupancy.T)
    return by_class.argmax(axis=1)


def closures(reference: np.ndarray, heard: np.ndarray, cls: int) -> tuple[int, int]:
    """(found, total) runs of reference frames of ``cls`` with a heard one within a frame."""
    found = total = 0
    i = 0
    while i < len(reference):
        if reference[i] != cls:
            i += 1
            continue
        j = i
        while j < len(reference) and reference[j] == cls:
            j += 1
        total += 1
        found += bool((heard[max(i - 1, 0):j + 1] == cls).any())
        i = j
    return found, total


def class_table(reference: np.ndarray, heard: np.ndarray) -> list[str]:
    rows = ["| class | frames | precision | recall |", "|---|---|---|---|"]
    for k, name in enumerate(MOUTH_CLASSES):
        ref, hyp = reference == k, heard == k
        precision = (ref & hyp).sum() / max(hyp.sum(), 1)
        recall = (ref & hyp).sum() / max(ref.sum(), 1)
        rows.append(f"| {name} | {ref.sum()} | {precision:.2f} | {recall:.2f} |")
    found, total = closures(reference, heard, MOUTH_CLASS_INDEX["bilabial"])
    rows.append(f"accuracy {np.mean(reference == heard):.2f} over {len(reference)} frames; "
                f"bilabial closures found {found} / {total}")
    return rows


def edit_operations(ref: list, hyp: list) -> list:
    """Levenshtein alignment of two phone segment lists: [(op, ref_seg, hyp_seg)]."""
    n, m = len(ref), len(hyp)
    cost = np.zeros((n + 1, m + 1), dtype=np.int64)
    cost[:, 0], cost[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i, j] = min(cost[i - 1, j] + 1, cost[i, j - 1] + 1,
                             cost[i - 1, j - 1] + (ref[i - 1][0] != hyp[j - 1][0]))
    ops, i, j = [], n, m
    while i or j:
        if i and j and cost[i, j] == cost[i - 1, j - 1] + (ref[i - 1][0] != hyp[j - 1][0]):
            ops.append(("C" if ref[i - 1][0] == hyp[j - 1][0] else "S", ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i and cost[i, j] == cost[i - 1, j] + 1:
            ops.append(("D", ref[i - 1], None))
            i -= 1
        else:
            ops.append(("I", None, hyp[j - 1]))
            j -= 1
    return ops[::-1]


def error_rates(ops: list, short_s: float = 0.05) -> list[str]:
    counts = Counter(op for op, _, _ in ops)
    n = counts["C"] + counts["S"] + counts["D"]
    short = [op for op, r, _ in ops if r is not None and r[2] - r[1] < short_s]
    long = [op for op, r, _ in ops if r is not None and r[2] - r[1] >= short_s]
    shifts = np.array([h[1] - r[1] for op, r, h in ops if op == "C"])
    same_class = np.mean([mouth_class(r[0]) == mouth_class(h[0]) for op, r, h in ops if op == "S"])
    return [f"{n} reference phones: substitution {counts['S'] / n:.2f} ({same_class:.0%} keep the mouth class), "
            f"deletion {short.count('D') / max(len(short), 1):.2f} under {short_s * 1000:.0f} ms and "
            f"{long.count('D') / max(len(long), 1):.2f} above, insertion {counts['I'] / n:.2f}; "
            f"boundary shift std {shifts.std() * 1000:.0f} ms, median |shift| "
            f"{np.median(np.abs(shifts)) * 1000:.0f} ms"]


def word_errors(reference: list, hypothesis: list) -> tuple[int, int]:
    """(edit distance, reference length) between two word lists."""
    previous = list(range(len(hypothesis) + 1))
    for i, word in enumerate(reference, 1):
        current = [i]
        for j, heard in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != heard)))
        previous = current
    return previous[-1], len(reference)


def workers_cpu_seconds(pool: SpeechWorkers) -> float:
    """User + system CPU time the pool's worker processes have used (Linux /proc): what the
    work costs whatever else the machine runs."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pool.pids():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def load_recordings(folder: Path, aligner: Recognizer) -> list:
    """[(name, audio, transcript, reference segments)] of the recordings whose transcript aligns."""
    out = []
    for path, transcript in real_recordings(folder):
        audio = load_audio(path)
        reference = aligner.recognize(audio, transcript)
        if reference.aligned_s < len(audio) / SAMPLE_RATE:
            print(f"skipped {path.name}: its transcript could not be aligned")
            continue
        out.append((path.stem, audio, transcript, reference.segments))
    if not out:
        raise SystemExit(f"no aligned recordings in {folder}")
    return out


def front_end_table(recordings: list, workers: int, front_ends: dict) -> None:
    seconds = sum(len(a) for _, a, _, _ in recordings) / SAMPLE_RATE
    degrade = conditions([a for _, a, _, _ in recordings])
    long_clip = np.concatenate([np.concatenate([a, np.zeros(4800, np.float32)]) for _, a, _, _ in recordings])
    print(f"\n## Real speech, no transcript: {len(recordings)} recordings, {seconds:.1f} s; {workers} workers")
    print("| condition | front-end | word error rate | p/b/m found | frame accuracy | wall ms per s (clips) "
          "| wall ms per s (one long clip) | CPU ms per s (one long clip, all workers) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, source in front_ends.items():
        pool = SpeechWorkers(workers, words=source).start()
        pool.recognize(recordings[0][1][:SAMPLE_RATE])  # models loaded: time the work, not the start
        try:
            for condition in CONDITIONS:
                errors = words = found = total = 0
                refs, heard = [], []
                wall = 0.0
                for index, (name, audio, transcript, reference) in enumerate(recordings):
                    noisy = np.clip(degrade[condition](audio, index), -1.0, 1.0).astype(np.float32)
                    started = time.perf_counter()
                    result = pool.recognize(noisy)
                    wall += time.perf_counter() - started
                    e, n = word_errors(spoken_words(transcript), result.words)
                    errors, words = errors + e, words + n
                    frames = n_frames(len(audio))
                    refs.append(mouth_frames(reference, frames))
                    heard.append(mouth_frames(result.segments, frames))
                    f, t = closures(refs[-1], heard[-1], MOUTH_CLASS_INDEX["bilabial"])
                    found, total = found + f, total + t
                long_noisy = np.clip(degrade[condition](long_clip, 0), -1.0, 1.0).astype(np.float32)
                started, cpu = time.perf_counter(), workers_cpu_seconds(pool)
                pool.recognize(long_noisy)
                long_ms = (time.perf_counter() - started) / (len(long_clip) / SAMPLE_RATE) * 1000
                long_cpu_ms = (workers_cpu_seconds(pool) - cpu) / (len(long_clip) / SAMPLE_RATE) * 1000
                accuracy = np.mean(np.concatenate(refs) == np.concatenate(heard))
                print(f"| {condition} | {label} | {errors / max(words, 1):.2f} | {found}/{total} ({found / total:.2f}) "
                      f"| {accuracy:.2f} | {wall / seconds * 1000:.0f} | {long_ms:.0f} | {long_cpu_ms:.0f} |",
                      flush=True)
        finally:
            pool.close()


def long_take(recordings: list, minutes: float, workers: int) -> None:
    """The recordings one after another, repeated to ``minutes``: wall time, and each
    worker's peak memory after the first chunk and after the last (flat = close)."""
    unit = np.concatenate([np.concatenate([a, np.zeros(4800, np.float32)]) for _, a, _, _ in recordings])
    audio = np.tile(unit, int(np.ceil(minutes * 60 * SAMPLE_RATE / len(unit))))[: int(minutes * 60 * SAMPLE_RATE)]
    pool = SpeechWorkers(workers).start()
    peaks = []

    def peak_mib(pid):
        line = next(l for l in Path(f"/proc/{pid}/status").read_text().splitlines() if l.startswith("VmHWM:"))
        return int(line.split()[1]) // 1024

    try:
        started = time.perf_counter()
        result = pool.recognize(audio, progress=lambda done, total: peaks.append([peak_mib(p) for p in pool.pids()]))
        wall = time.perf_counter() - started
    finally:
        pool.close()
    print(f"\n## One take of {minutes:g} min, {workers} workers: {wall:.0f} s wall "
          f"({minutes * 60 / wall:.1f}x real time), {len(result.chunks)} chunks, "
          f"{result.aligned_s / (minutes * 60):.0%} aligned; worker peak MiB after the first chunk "
          f"{peaks[0]}, after the last {peaks[-1]}")


def phone_loop_errors(recordings: list) -> None:
    phone_loop = Recognizer(words=PHONE_LOOP_ONLY)
    refs, heard, simulated, ops, sim_ops = [], [], [], [], []
    rng = np.random.default_rng(0)
    for name, audio, transcript, reference in recordings:
        n = n_frames(len(audio))
        loop = phone_loop.recognize(audio)
        refs.append(mouth_frames(reference, n))
        heard.append(mouth_frames(loop.segments, n))
        speech = [s for s in reference if s[0] != SILENCE]
        ops += edit_operations(speech, [s for s in loop.segments if s[0] != SILENCE])
        for _ in range(SIMULATIONS):
            corrupted = ErrorModel().corrupt(reference, rng)
            simulated.append(mouth_frames(corrupted, n))
            sim_ops += edit_operations(speech, [s for s in corrupted if s[0] != SILENCE])
    print("\n## The phone loop alone (the check and the fallback), clean recordings")
    print("\n".join(class_table(np.concatenate(refs), np.concatenate(heard))))
    print("recognizer errors: " + error_rates(ops)[0])
    print(f"\n## Simulated errors (ErrorModel defaults, {SIMULATIONS} draws) on the same reference")
    print("\n".join(class_table(np.concatenate([r for r in refs for _ in range(SIMULATIONS)]),
                                 np.concatenate(simulated))))
    print("simulated errors: " + error_rates(sim_ops)[0])


def other_languages(recognizer: Recognizer) -> None:
    print("\n## espeak-ng speech, English recognizer: bilabial closures found (voice variant)")
    print("| language | default | f2 | m3 |\n|---|---|---|---|")
    for language, text in OTHER_LANGUAGES.items():
        cells = []
        for variant in (None, "f2", "m3"):
            audio, rate, events = espeak.synthesize(text, voice=language, variant=variant)
            audio = resample_poly(audio, 320, 441).astype(np.float32)
            n = n_frames(len(audio))
            truth = mouth_frames(phone_segments(events), n)
            found, total = closures(truth, mouth_frames(recognizer.recognize(audio).segments, n),
                                    MOUTH_CLASS_INDEX["bilabial"])
            cells.append(f"{found}/{total}")
        print(f"| {language} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "assets" / "real_speech",
                        help="folder of recordings with NAME.txt transcripts (default: assets/real_speech)")
    parser.add_argument("--workers", type=int, default=None, help="front-end processes (default: one per core)")
    parser.add_argument("--front-end", choices=("whisper", "pocketsphinx"), action="append", default=None,
                        help="measure only this front-end (repeatable; default: both)")
    parser.add_argument("--skip-languages", action="store_true", help="skip the espeak-ng language table")
    parser.add_argument("--long-minutes", type=float, default=0.0,
                        help="also run one take this long (the recordings repeated) for speed and flat memory")
    args = parser.parse_args()
    aligner = Recognizer(words=PHONE_LOOP_ONLY)  # the reference is the transcript's alignment
    recordings = load_recordings(args.data, aligner)
    chosen = {label: source for label, source in FRONT_ENDS.items() if args.front_end is None or source in args.front_end}
    workers = args.workers or SpeechWorkers().n_workers
    front_end_table(recordings, workers, chosen)
    if args.long_minutes:
        long_take(recordings, args.long_minutes, workers)
    phone_loop_errors(recordings)
    if not args.skip_languages:
        other_languages(Recognizer())


if __name__ == "__main__":
    main()
