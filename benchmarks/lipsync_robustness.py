"""Lip sync on real recordings made harder: white noise, babble, a low level, a telephone band.

Each recording's labels come from forced alignment of its transcript on the clean
recording, so they do not degrade with the audio. The model gets the degraded audio with
no transcript (what the add-on sends when its Transcript field is empty) and then with the
transcript. Printed per condition: the pooled lip-sync rates of docs/evaluation.md, and
the share of the audio that the recognizer forced-aligned to words (the rest is its phone
loop).

    nice .venv/bin/python benchmarks/lipsync_robustness.py [--model DIR] [--data DIR]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from backend import DEFAULT_MODEL_DIR  # noqa: E402
from backend.audio_io import load_audio  # noqa: E402
from backend.evaluation.evaluate import real_recordings  # noqa: E402
from backend.evaluation.report import aggregate, eval_head, evaluate_clip  # noqa: E402
from backend.heads import load_head  # noqa: E402
from backend.model import load_model  # noqa: E402
from backend.speech.features import features_from_recognition  # noqa: E402
from backend.speech.recognizer import recognize  # noqa: E402
from backend.timebase import SAMPLE_RATE  # noqa: E402
from degraded_audio import conditions  # noqa: E402



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, help="model folder (default: the shipped model)")
    parser.add_argument("--data", type=Path, default=ROOT / "assets" / "real_speech",
                        help="recordings with NAME.txt transcripts (default: assets/real_speech)")
    parser.add_argument("--only", nargs="*", default=None,
                        help="conditions to run, by the start of their names (e.g. clean white babble)")
    parser.add_argument("--no-transcript-only", action="store_true", help="skip the runs with the transcript")
    args = parser.parse_args()
    bundle = load_model(args.model)
    if bundle.expression_space != "arkit":
        sys.exit(f"{args.model} animates {bundle.expression_space}; this benchmark measures on the built-in "
                 "ARKit head: use `python -m backend evaluate --flame` for FLAME models")
    ehead = eval_head(load_head("builtin"))
    recordings = []
    for path, transcript in real_recordings(args.data):
        audio = load_audio(path)
        recordings.append((path.stem, audio, transcript, recognize(audio, transcript).segments))
    seconds = sum(len(audio) for _, audio, _, _ in recordings) / SAMPLE_RATE
    audio_scale, style_scale = bundle.guidance_scales()
    print(f"model {bundle.name}, {len(recordings)} recordings, {seconds:.1f} s; "
          f"guidance audio {audio_scale:g}, style {style_scale:g}\n")
    print("| condition | transcript | bilabials closed | open vowels open | rest closed | aligned | time, s |")
    print("|---|---|---|---|---|---|---|")
    for condition, degrade in conditions([audio for _, audio, _, _ in recordings]).items():
        if args.only is not None and not any(condition.startswith(prefix) for prefix in args.only):
            continue
        for given in (False,) if args.no_transcript_only else (False, True):
            started = time.monotonic()
            results, aligned = [], 0.0
            for index, (name, audio, transcript, labels) in enumerate(recordings):
                heard = np.clip(degrade(audio, index), -1.0, 1.0).astype(np.float32)
                recognition = recognize(heard, transcript if given else None)
                aligned += recognition.aligned_s
                features = features_from_recognition(recognition.segments, heard)
                motion = bundle.generate(heard, speech_features=features)[0]
                results.append(evaluate_clip(ehead, motion, heard, labels, name, kind=condition))
            rates = aggregate(results)[condition]
            print(f"| {condition} | {'yes' if given else 'no'} | {rates['pooled_bilabials_closed']:.2f} "
                  f"| {rates['pooled_open_vowels_open']:.2f} | {rates['pooled_rest_closed']:.2f} "
                  f"| {aligned / seconds:.0%} | {time.monotonic() - started:.0f} |", flush=True)


if __name__ == "__main__":
    main()
