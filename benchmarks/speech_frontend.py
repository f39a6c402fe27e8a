"""How well the speech front-end hears real voices, per mouth class, and how fast.

Reference labels come from pocketsphinx's forced alignment with each recording's
transcript; the front-ends under test get no transcript (what the add-on's users get): the
same acoustic model's phone loop alone, and the product path (the words its language model
hears, forced-aligned, checked against the phone loop). The reference therefore shares the
recognizer's acoustic model, which flatters it: read the figures as an upper bound on a
small set.

Also measured: the recognizer's error rates against that reference (substitutions,
deletions by phone length, insertions, boundary shift), which set ``ErrorModel``'s
defaults; the same table for the true timings corrupted by ``ErrorModel`` (the training
side should err like the recognizer); and, on espeak-ng speech in English, German,
Spanish and French, how many bilabial closures the English recognizer finds.

Data: a folder of recordings (WAV, FLAC, OGG, MP3; any rate and channels) with ``NAME.txt``
transcripts; by default the eleven in assets/real_speech.

    nice .venv/bin/python benchmarks/speech_frontend.py
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from backend.audio_io import load_audio
from backend.evaluation.evaluate_cli import real_recordings
from backend.speech import espeak
from backend.speech.errors import ErrorModel
from backend.speech.features import phone_occupancy
from backend.speech.phones import (MOUTH_CLASS_INDEX, MOUTH_CLASSES, PHONE_MOUTH_CLASS, SILENCE, mouth_class,
                                   phone_segments)
from backend.speech.prosody import n_frames
from backend.speech.recognizer import Recognizer

SIMULATIONS = 10  # corruptions drawn per recording: the set is small, one draw is noisy
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


def real_speech(folder: Path, recognizer: Recognizer) -> None:
    phone_loop = Recognizer(recognize_words=False)
    refs, heard, heard_words, simulated, ops, sim_ops = [], [], [], [], [], []
    seconds = cpu = cpu_words = 0.0
    rng = np.random.default_rng(0)
    for wav, transcript in real_recordings(folder):
        audio = load_audio(wav)
        duration = len(audio) / 16000
        reference = recognizer.recognize(audio, transcript)
        if reference.aligned_s < duration:
            print(f"skipped {wav.name}: its transcript could not be aligned")
            continue
        start = time.process_time()
        loop = phone_loop.recognize(audio)
        cpu += time.process_time() - start
        start = time.process_time()
        words = recognizer.recognize(audio)
        cpu_words += time.process_time() - start
        seconds += duration
        n = n_frames(len(audio))
        refs.append(mouth_frames(reference.segments, n))
        heard.append(mouth_frames(loop.segments, n))
        heard_words.append(mouth_frames(words.segments, n))
        speech = [s for s in reference.segments if s[0] != SILENCE]
        ops += edit_operations(speech, [s for s in loop.segments if s[0] != SILENCE])
        for _ in range(SIMULATIONS):
            corrupted = ErrorModel().corrupt(reference.segments, rng)
            simulated.append(mouth_frames(corrupted, n))
            sim_ops += edit_operations(speech, [s for s in corrupted if s[0] != SILENCE])
    if not refs:
        raise SystemExit(f"no aligned recordings in {folder}")
    print(f"\n## Real speech: {seconds:.1f} s in {len(refs)} recordings; phone loop vs forced alignment")
    print("\n".join(class_table(np.concatenate(refs), np.concatenate(heard))))
    print(f"speed: {cpu / seconds * 1000:.0f} ms CPU per second of audio (phone loop, this machine)")
    print("recognizer errors: " + error_rates(ops)[0])
    print("\n## The product path on the same recordings: words heard, forced-aligned (no transcript)")
    print("\n".join(class_table(np.concatenate(refs), np.concatenate(heard_words))))
    print(f"speed: {cpu_words / seconds * 1000:.0f} ms CPU per second of audio (phone loop, words, alignment)")
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
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "assets" / "real_speech",
                        help="folder of recordings with NAME.txt transcripts (default: assets/real_speech)")
    parser.add_argument("--skip-languages", action="store_true", help="skip the espeak-ng language table")
    args = parser.parse_args()
    recognizer = Recognizer()
    if args.data.is_dir():
        real_speech(args.data, recognizer)
    else:
        print(f"no folder {args.data}: real-speech figures skipped")
    if not args.skip_languages:
        other_languages(recognizer)


if __name__ == "__main__":
    main()
