"""``python -m backend synth-data``: generate (or resume) a synthetic corpus.

The same folder and settings resume an interrupted run; a larger ``--clips``/``--hours``
extends a finished one. Prints a summary with the generation speed.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

from ..data.synthetic.generate import CorpusConfig, generate_corpus

logger = logging.getLogger(__name__)


def add_arguments(parser):
    defaults = CorpusConfig()
    parser.add_argument("corpus", type=Path, help="output folder")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--clips", type=int, help=f"number of clips (default {defaults.n_clips})")
    size.add_argument("--hours", type=float, help="approximate corpus length in hours (sets --clips)")
    parser.add_argument("--speakers", type=int, default=None,
                        help="number of synthetic speakers (default: one per 3 minutes of corpus, at least 10)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="the corpus is a function of the seed")
    parser.add_argument("--min-seconds", type=float, default=defaults.min_seconds, help="shortest clip")
    parser.add_argument("--max-seconds", type=float, default=defaults.max_seconds, help="longest clip (about)")
    parser.add_argument("--val", type=float, default=defaults.val_fraction, help="share of speakers for val")
    parser.add_argument("--test", type=float, default=defaults.test_fraction, help="share of speakers for test")
    parser.add_argument("--augment", type=float, default=defaults.augment_probability,
                        help="share of clips whose audio is augmented")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)),
                        help="parallel processes (default: one per CPU)")


def run(args) -> int:
    probe = CorpusConfig(min_seconds=args.min_seconds, max_seconds=args.max_seconds)
    n_clips = args.clips if args.clips is not None else (
        int(round(args.hours * 3600 / probe.mean_seconds)) if args.hours else probe.n_clips)
    minutes = n_clips * probe.mean_seconds / 60
    n_speakers = args.speakers or max(10, int(round(minutes / 3)))
    config = CorpusConfig(seed=args.seed, n_clips=n_clips, n_speakers=n_speakers, min_seconds=args.min_seconds,
                          max_seconds=args.max_seconds, val_fraction=args.val, test_fraction=args.test,
                          augment_probability=args.augment)
    logger.info("generating %s", asdict(config))

    def progress(done, total):
        if done == total or done % 50 == 0:
            logger.info("%d / %d clips", done, total)

    summary = generate_corpus(args.corpus, config, workers=args.workers, progress=progress)
    if summary["compute_seconds"] > 0 and summary["clips_made"]:
        summary["corpus_seconds_per_second"] = round(summary["audio_seconds_made"] / summary["compute_seconds"], 2)
    print(json.dumps(summary, indent=2))
    return 0
