import argparse
import json
import shutil

import numpy as np

from backend.cli import evaluate as evaluate_command
from project import ROOT


def _reject_constant(name):
    raise ValueError(f"metrics.json holds {name}")


def test_evaluate_command_writes_report_with_metrics_and_plots(tiny_corpus, tiny_model, tmp_path):
    # A real recording (espeak output varies with what the process synthesized before,
    # and the recognizer hears synthetic voices poorly).
    real = tmp_path / "real"
    real.mkdir()
    for suffix in (".flac", ".txt"):
        shutil.copy(ROOT / "assets" / f"speech_sample{suffix}", real / f"sample{suffix}")

    parser = argparse.ArgumentParser()
    evaluate_command.add_arguments(parser)
    out = tmp_path / "report"
    args = parser.parse_args(["--model", str(tiny_model / "checkpoint"), "--corpus", str(tiny_corpus), "--clips", "2",
                              "--seconds", "6", "--seeds", "2", "--diversity-clips", "1", "--real", str(real),
                              "--steps", "3", "--out", str(out)])
    assert evaluate_command.run(args) == 0

    report = (out / "report.md").read_text()
    assert "| LVE, mm |" in report and "| bilabials closed (<= 2 mm), fraction |" in report
    assert ("| held-out synthetic ground truth | held-out synthetic speech (recognizer) | "
            "held-out synthetic speech (true phone times) | real speech (recognizer + transcript) | "
            "real speech (recognizer alone) |") in report
    data = json.loads((out / "metrics.json").read_text(), parse_constant=_reject_constant)
    synthetic, real_summary = data["summary"]["synthetic"], data["summary"]["real"]
    assert synthetic["clips"] == 2 and real_summary["clips"] == 1
    assert data["summary"]["real, no transcript"]["clips"] == 1
    assert data["summary"]["synthetic, true phones"]["clips"] == 2
    assert data["summary"]["ground truth"]["clips"] == 2
    for key in ("lve_mm", "fdd_1e5m", "mod_mm", "beat_alignment", "style_cosine_own", "diversity_mm"):
        assert np.isfinite(synthetic[key]), key
    assert synthetic["lve_mm"] > 0 and synthetic["diversity_mm"] > 0
    assert real_summary["lipsync_bilabials"] >= 2  # "he might even have been made amiable himself"
    for name in ("mouth_heldout.png", "mouth_heldout_true_phones.png", "mouth_real.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in report
