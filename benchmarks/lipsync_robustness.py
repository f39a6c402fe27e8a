"""Lip sync on real recordings made harder: white noise, a low level, a telephone band.

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
from scipy.signal import butter, resample_poly, sosfiltfilt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.audio_io import load_audio  # noqa: E402
from backend.evaluation.evaluate_cli import DEFAULT_MODEL, real_recordings  # noqa: E402
from backend.evaluation.report import aggregate, eval_head, evaluate_clip  # noqa: E402
from backend.heads import load_head  # noqa: E402
from backend.model import load_model  # noqa: E402
from backend.speech.recognizer import recognize  # noqa: E402

RATE = 16000


def with_noise(audio: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, 1.0, len(audio)).astype(np.float32)
    return audio + noise * np.sqrt(np.mean(audio ** 2) / 10 ** (snr_db / 10))


def telephone(audio: np.ndarray) -> np.ndarray:
    """8 kHz, 300-3400 Hz, back at 16 kHz: the band a phone line or a call recording keeps."""
    narrow = resample_poly(audio, 1, 2)
    narrow = sosfiltfilt(butter(4, (300, 3400), btype="bandpass", fs=RATE // 2, output="sos"), narrow)
    return resample_poly(narrow, 2, 1).astype(np.float32)[: len(audio)]


CONDITIONS = {
    "clean": lambda a: a,
    "white noise, 30 dB SNR": lambda a: with_noise(a, 30),
    "white noise, 20 dB SNR": lambda a: with_noise(a, 20),
    "white noise, 10 dB SNR": lambda a: with_noise(a, 10),
    "level -30 dB": lambda a: a * 10 ** (-30 / 20),
    "telephone band": telephone,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model folder (default: the shipped model)")
    parser.add_argument("--data", type=Path, default=ROOT / "assets" / "real_speech",
                        help="recordings with NAME.txt transcripts (default: assets/real_speech)")
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
    seconds = sum(len(audio) for _, audio, _, _ in recordings) / RATE
    audio_scale, style_scale = bundle.guidance_scales()
    print(f"model {bundle.name}, {len(recordings)} recordings, {seconds:.1f} s; "
          f"guidance audio {audio_scale:g}, style {style_scale:g}\n")
    print("| condition | transcript | bilabials closed | open vowels open | rest closed | aligned | time, s |")
    print("|---|---|---|---|---|---|---|")
    for condition, degrade in CONDITIONS.items():
        for given in (False, True):
            started = time.monotonic()
            results, aligned = [], 0.0
            for name, audio, transcript, labels in recordings:
                heard = np.clip(degrade(audio), -1.0, 1.0).astype(np.float32)
                text = transcript if given else None
                aligned += recognize(heard, text).aligned_s
                motion = bundle.generate(heard, transcript=text)[0]
                results.append(evaluate_clip(ehead, motion, heard, labels, name, kind=condition))
            rates = aggregate(results)[condition]
            print(f"| {condition} | {'yes' if given else 'no'} | {rates['pooled_bilabials_closed']:.2f} "
                  f"| {rates['pooled_open_vowels_open']:.2f} | {rates['pooled_rest_closed']:.2f} "
                  f"| {aligned / seconds:.0%} | {time.monotonic() - started:.0f} |", flush=True)


if __name__ == "__main__":
    main()
