"""``python -m backend import-data``: add recorded takes to a corpus and refresh its stats.

Each take's import report (bad rows, clock gaps, length mismatches) is printed; with
``--strict`` a take with problems is not added.
"""
from __future__ import annotations

from pathlib import Path

from ..data import importers
from ..data.format import DatasetFormatError, SPLITS, merge_manifest, write_clip
from ..data.stats import compute_corpus_stats, save_stats
from ..model.stats import STATS_NAME


def add_arguments(parser):
    parser.add_argument("corpus", type=Path, help="corpus folder (created if missing)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--live-link", type=Path, nargs="+", metavar="CSV",
                        help="Live Link Face CSV takes (ARKit expression space)")
    source.add_argument("--diffposetalk", type=Path, nargs="+", metavar="NPZ",
                        help="DiffPoseTalk-style .npz coefficient files with exp, pose, shape (FLAME)")
    parser.add_argument("--audio", type=Path, help="the take's audio (only with one take; default: the "
                        ".wav or .flac with the same name next to each take)")
    parser.add_argument("--speaker", required=True, help="speaker id for these takes")
    parser.add_argument("--split", choices=SPLITS, default="train",
                        help="split for a new speaker (splits are per speaker; default train)")
    parser.add_argument("--capture-fps", type=float, default=None,
                        help="Live Link Face capture rate (default: inferred from the timecodes)")
    parser.add_argument("--head-units", choices=sorted(importers.HEAD_UNITS), default="normalized",
                        help="unit of HeadYaw/Pitch/Roll in the CSV (default normalized: 1 = 90 degrees)")
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate of the .npz files when they do not say (default 25)")
    parser.add_argument("--audio-offset", type=float, default=0.0,
                        help="seconds the audio starts before the motion (negative: after)")
    parser.add_argument("--tolerance", type=float, default=0.5,
                        help="largest audio/motion length difference in seconds that is cut, not refused")
    parser.add_argument("--strict", action="store_true", help="skip takes whose report lists problems")
    parser.add_argument("--no-stats", action="store_true", help="do not recompute stats.npz")


def run(args) -> int:
    takes = args.live_link or args.diffposetalk
    if args.audio is not None and len(takes) > 1:
        raise SystemExit("--audio names one file; with several takes put each take's audio next to it")
    records, failed = [], 0
    for take in takes:
        audio = args.audio or importers.default_audio_for(take)
        clip_id = f"{args.speaker}-{take.stem}"
        try:
            if args.live_link:
                clip, audio16k, report = importers.import_live_link_face(
                    take, audio, args.speaker, capture_fps=args.capture_fps, head_units=args.head_units,
                    audio_offset_s=args.audio_offset, tolerance_s=args.tolerance)
            else:
                clip, audio16k, report = importers.import_diffposetalk(
                    take, audio, args.speaker, fps=args.fps, audio_offset_s=args.audio_offset,
                    tolerance_s=args.tolerance)
        except DatasetFormatError as error:
            print(f"{take}: not imported: {error}")
            failed += 1
            continue
        print(report.summary())
        if args.strict and not report.ok:
            print(f"  skipped (--strict): {len(report.problems)} problems")
            failed += 1
            continue
        problems = [str(p) for p in report.problems]
        records.append(write_clip(args.corpus, clip_id, clip, audio16k, args.split,
                                  source="live_link_face" if args.live_link else "diffposetalk",
                                  meta={"file": str(take), "problems": problems}))
    if records:
        merge_manifest(args.corpus, records)
        print(f"added {len(records)} clips to {args.corpus}")
        if not args.no_stats:
            try:
                save_stats(args.corpus / STATS_NAME, compute_corpus_stats(args.corpus))
            except DatasetFormatError as error:
                print(f"stats not updated: {error}")
    return 1 if failed else 0
