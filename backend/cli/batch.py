"""``python -m backend batch DIR``: a motion .npz for every audio file in a folder.

For a folder of dialogue lines: the model loads once; a line whose output exists is
skipped (so a second run picks up where the first stopped); a line that fails is
reported with its error code and the rest still run. Each line goes through the same
code as the service's ``generate``.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from ..audio_io import AUDIO_EXTENSIONS
from .common import add_generation_arguments, generation_params, load_runner, log_progress, report_error

log = logging.getLogger(__name__)
REPORT_NAME = "batch_report.json"


def add_arguments(parser):
    parser.add_argument("folder", type=Path, help="folder of audio files (WAV, FLAC, OGG, MP3), searched recursively")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the .npz files, mirroring the input folders (default: next to the audio)")
    parser.add_argument("--force", action="store_true", help="redo lines whose output exists")
    add_generation_arguments(parser)


def find_audio(folder: Path) -> list:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def output_for(audio: Path, folder: Path, out: Path | None) -> Path:
    relative = audio.relative_to(folder).with_suffix(".npz")
    return (out or folder) / relative


def run(args) -> int:
    folder = args.folder
    if not folder.is_dir():
        print(f"error: {folder} is not a folder; give the folder that holds the audio files", file=sys.stderr)
        return 1
    files = find_audio(folder)
    if not files:
        print(f"error: no {', '.join(AUDIO_EXTENSIONS)} files in {folder}", file=sys.stderr)
        return 1
    try:
        runner = load_runner(args)
    except Exception as exc:  # reported with its code
        return report_error(exc)
    try:
        return _run_all(args, runner, folder, files)
    finally:
        runner.close()


def _run_all(args, runner, folder, files) -> int:
    from ..service.runner import describe_error, variation_paths

    done, skipped, failed = [], [], []
    started = time.perf_counter()
    for index, audio in enumerate(files, 1):
        output = output_for(audio, folder, args.out)
        if not args.force and all(p.exists() for p in variation_paths(output, args.variations)):
            skipped.append(str(audio))
            continue
        log.info("[%d/%d] %s", index, len(files), audio)
        try:
            params = generation_params(args, audio, output)
            result = runner.generate(params, progress=log_progress())
            done.append({"audio": str(audio), "outputs": result["outputs"]})
        except Exception as exc:  # one bad line must not stop the batch
            error = describe_error(exc)
            log.warning("%s failed: [%s] %s", audio, error.code, error.message)
            failed.append({"audio": str(audio), "code": error.code, "message": error.message})
    report = {"folder": str(folder), "done": done, "skipped": skipped, "failed": failed,
              "elapsed": time.perf_counter() - started}
    report_path = (args.out or folder) / REPORT_NAME
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=1))
    print(f"{len(done)} done, {len(skipped)} skipped (output exists), {len(failed)} failed; report: {report_path}")
    for item in failed:
        print(f"FAILED {item['audio']}: [{item['code']}] {item['message']}")
    return 1 if failed else 0
