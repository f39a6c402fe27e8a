"""Evaluation of a model bundle: metrics per clip, aggregates and the markdown report.

Held-out clips with ground truth give LVE, FDD, MOD (``metrics``), beat alignment, style
fidelity and diversity; any speech with phone times (synthetic truth, or a recording's
forced alignment) gives the lip-sync measures (``lipsync``). Vertices come from a head
reduced to the regions the metrics read (lips, upper face, landmarks), which keeps the
numpy skinning cheap on the 25k-vertex built-in head.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..heads.regions import lip_region, mouth_centre, subset_head
from ..timebase import FPS, SAMPLE_RATE
from . import metrics
from .lipsync import lipsync_report
from .png import LinePlot

UPPER_FACE_SAMPLE = 1500  # upper-face vertices kept for FDD


@dataclass
class EvalHead:
    """A head reduced to the vertices the metrics need, with their region indices."""

    head: object  # HeadModel (subset)
    lips: np.ndarray
    upper_face: np.ndarray
    upper_lip: int
    lower_lip: int

    def vertices(self, motion: dict) -> np.ndarray:
        return self.head.vertices({"exp": motion["exp"], "pose": motion["pose"], "shape": motion.get("shape")})

    def still_vertices(self, motion: dict) -> np.ndarray:
        """Vertices with the head rotation zeroed (lip metrics compare faces, not head turns)."""
        pose = np.array(motion["pose"], dtype=np.float32)
        pose[:, :3] = 0.0
        return self.vertices({**motion, "pose": pose})


def eval_head(head, seed: int = 0) -> EvalHead:
    """Lip and upper-face regions of ``head`` found from its landmarks and geometry."""
    marks = head.landmarks
    lips = lip_region(head)
    candidates = head.skin_vertices()
    template = head.template
    centre = mouth_centre(head)
    above = template[marks["nose_tip"], 1] if "nose_tip" in marks else centre[1] + 0.035
    upper = candidates[template[candidates, 1] > above]
    rng = np.random.default_rng(seed)
    if len(upper) > UPPER_FACE_SAMPLE:
        upper = np.sort(rng.choice(upper, UPPER_FACE_SAMPLE, replace=False))
    keep = np.unique(np.concatenate([lips, upper, [marks["upper_lip_inner"], marks["lower_lip_inner"]]]))
    where = {int(v): i for i, v in enumerate(keep)}
    return EvalHead(subset_head(head, keep), np.array([where[int(v)] for v in lips]), np.array([where[int(v)] for v in upper]),
                    where[marks["upper_lip_inner"]], where[marks["lower_lip_inner"]])


@dataclass
class ClipResult:
    id: str
    kind: str  # "synthetic", "synthetic, true phones" (ground truth available) or "real"
    seconds: float
    lipsync: dict
    vertex: dict = field(default_factory=dict)  # lve_mm, fdd_1e5m, mod_mm, beat_alignment(_gt)
    style: dict = field(default_factory=dict)  # cosine to own reference
    diversity_mm: float | None = None

    def row(self) -> dict:
        return {"id": self.id, "kind": self.kind, "seconds": self.seconds, **self.vertex, **self.style,
                **{f"lipsync_{k}": v for k, v in self.lipsync.items()},
                **({"diversity_mm": self.diversity_mm} if self.diversity_mm is not None else {})}


def opening_mm(ehead: EvalHead, motion: dict) -> np.ndarray:
    return metrics.mouth_opening(ehead.still_vertices(motion), ehead.upper_lip, ehead.lower_lip)


def closures_reached(opening: np.ndarray, truth_opening: np.ndarray, segments, closed_mm: float = 2.0):
    """(reached, total): bilabial segments in which the ground truth closes the lips
    (<= closed_mm somewhere) and the prediction does too."""
    from ..speech.phones import mouth_class

    n = min(len(opening), len(truth_opening))
    reached = total = 0
    for phone, start, end in segments:
        span = slice(max(0, int(np.floor(start * FPS))), min(n, max(int(np.floor(start * FPS)) + 1, int(np.ceil(end * FPS)))))
        if mouth_class(phone) != "bilabial" or span.start >= span.stop or truth_opening[span].min() > closed_mm:
            continue
        total += 1
        reached += int(opening[span].min() <= closed_mm)
    return reached, total


def evaluate_clip(ehead: EvalHead, motion: dict, audio: np.ndarray, segments, clip_id: str,
                  truth: dict | None = None, variations=None, kind: str | None = None) -> ClipResult:
    """Metrics of one generated ``motion`` for ``audio`` with phone ``segments``.

    truth: the ground-truth motion (same length) for the vertex metrics; variations: other
    samples for the same input, for diversity (lip-region vertices, mm).
    """
    n = len(motion["exp"])
    opening = opening_mm(ehead, motion)
    report = lipsync_report(opening, segments, audio)
    kind = kind or ("real" if truth is None else "synthetic")
    result = ClipResult(clip_id, kind, n / FPS, report.as_dict())
    ba = metrics.beat_alignment(metrics.motion_beats(motion["pose"][:, :3], FPS), metrics.audio_beats(audio, SAMPLE_RATE))
    result.vertex["beat_alignment"] = ba
    if truth is not None:
        m = min(n, len(truth["exp"]))
        pred_v = ehead.still_vertices({k: v[:m] if k in ("exp", "pose") else v for k, v in motion.items()})
        true_v = ehead.still_vertices({k: v[:m] if k in ("exp", "pose") else v for k, v in truth.items()})
        template = ehead.head.template
        result.vertex.update({
            "lve_mm": metrics.lip_vertex_error(pred_v, true_v, ehead.lips),
            "fdd_1e5m": metrics.upper_face_dynamics_deviation(pred_v, true_v, ehead.upper_face, template),
            "mod_mm": metrics.mouth_opening_difference(pred_v, true_v, ehead.upper_lip, ehead.lower_lip),
            "beat_alignment_gt": metrics.beat_alignment(metrics.motion_beats(truth["pose"][:m, :3], FPS),
                                                        metrics.audio_beats(audio, SAMPLE_RATE)),
        })
        reached, total = closures_reached(opening, opening_mm(ehead, truth), segments)
        result.vertex.update({"gt_closures": total, "gt_closures_reached": reached / total if total else math.nan})
    if variations:
        lips = np.stack([ehead.still_vertices(v)[:, ehead.lips] for v in [motion, *variations]])
        result.diversity_mm = metrics.diversity(lips) * 1e3
    return result


def style_fidelity(outputs: dict, references: dict) -> dict:
    """outputs / references: clip id -> (speaker, style vector). Cosine of each output's
    style to its own reference, and how often the nearest reference is its own speaker's."""
    own, hits = [], []
    ref_ids = list(references)
    for clip_id, (speaker, vec) in outputs.items():
        sims = {r: metrics.cosine_similarity(vec, references[r][1]) for r in ref_ids}
        own.append(sims[clip_id])
        best = max(sims, key=sims.get)
        hits.append(references[best][0] == speaker)
    return {"style_cosine_own": float(np.mean(own)) if own else math.nan,
            "style_retrieval": float(np.mean(hits)) if hits else math.nan, "style_clips": len(own)}


def mouth_plot(ehead: EvalHead, motion: dict, segments, truth: dict | None = None, seconds: float = 8.0) -> LinePlot:
    """Mouth opening over time with bilabials, open vowels and silences shaded."""
    from ..speech.phones import mouth_class

    n = min(len(motion["exp"]), int(seconds * FPS))
    t = np.arange(n) / FPS
    pred = opening_mm(ehead, motion)[:n]
    curves = [pred] + ([opening_mm(ehead, truth)[:n]] if truth is not None else [])
    top = max(12.0, float(max(c.max() for c in curves)) * 1.1)
    plot = LinePlot(x_range=(0.0, n / FPS), y_range=(-0.5, top))
    shading = {"bilabial": ("pink", "bilabial (should close)"), "open_vowel": ("sand", "open vowel (should open)"),
               "silence": ("sky", "silence")}
    for phone, start, end in segments:
        kind = mouth_class(phone)
        if kind in shading and start < n / FPS:
            plot.span(start, min(end, n / FPS), *shading[kind])
    plot.guide(2.0, "green", "closed threshold 2 mm")
    plot.guide(6.0, "orange", "open threshold 6 mm")
    if truth is not None:
        plot.curve(t, curves[1], "grey", "ground truth opening (mm)")
    plot.curve(t, pred, "blue", "generated opening (mm)")
    return plot


def aggregate(results: list) -> dict:
    """Means over clips of every numeric field, per kind (in order of appearance)."""
    summary = {}
    for kind in dict.fromkeys(r.kind for r in results):
        rows = [r.row() for r in results if r.kind == kind]
        keys = [k for k in rows[0] if isinstance(rows[0][k], (int, float)) and k not in ("seconds",)]
        means = {}
        for key in sorted({k for row in rows for k in row if k in keys or k == "diversity_mm"}):
            values = [row[key] for row in rows if key in row and row[key] is not None and not _isnan(row[key])]
            if values:
                means[key] = float(np.mean(values))
        means["clips"] = len(rows)
        means["seconds"] = float(sum(row["seconds"] for row in rows))
        # Pooled over segments rather than averaged over clips: a fairer rate for short clips.
        for part, count in (("lipsync_bilabials_closed", "lipsync_bilabials"),
                            ("lipsync_open_vowels_open", "lipsync_open_vowels"),
                            ("lipsync_rest_closed", "lipsync_rest_frames"), ("gt_closures_reached", "gt_closures")):
            if count not in rows[0]:
                continue
            total = sum(row[count] for row in rows)
            hits = sum(row[part] * row[count] for row in rows if not _isnan(row[part]))
            means[f"pooled_{part.removeprefix('lipsync_')}"] = hits / total if total else math.nan
        summary[kind] = means
    return summary


def _strict(value):
    """NaN -> None, numpy scalars -> Python, so metrics.json is strict JSON."""
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _isnan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _fmt(value) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.3g}"
    return str(value)


KIND_TITLES = {
    "synthetic": "held-out synthetic speech (recognizer)",
    "synthetic, true phones": "held-out synthetic speech (true phone times)",
    "real": "real speech (recognizer + transcript)",
    "real, no transcript": "real speech (recognizer alone)",
    "ground truth": "held-out synthetic ground truth",
}

SUMMARY_ROWS = (
    ("pooled_bilabials_closed", "bilabials closed (<= 2 mm), fraction"),
    ("pooled_gt_closures_reached", "bilabial closures of the ground truth reproduced, fraction"),
    ("pooled_open_vowels_open", "open vowels opened (>= 6 mm), fraction"),
    ("pooled_rest_closed", "rest frames closed in long silences, fraction"),
    ("lipsync_bilabial_opening_mm", "median opening at bilabials, mm"),
    ("lipsync_open_vowel_opening_mm", "median opening at open vowels, mm"),
    ("lipsync_envelope_correlation", "opening vs speech envelope, Pearson r"),
    ("lve_mm", "LVE, mm"),
    ("fdd_1e5m", "FDD, 1e-5 m"),
    ("mod_mm", "MOD, mm"),
    ("beat_alignment", "beat alignment (generated)"),
    ("beat_alignment_gt", "beat alignment (ground truth)"),
    ("style_cosine_own", "style cosine to own reference"),
    ("style_retrieval", "nearest reference is own speaker, fraction"),
    ("diversity_mm", "diversity across seeds (lip vertices), mm"),
    ("clips", "clips"),
    ("seconds", "seconds of speech"),
)


def write_report(folder, title: str, summary: dict, results: list, plots: dict, setup: dict) -> Path:
    """report.md, metrics.json and the plots' PNGs into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"# {title}", "", "Setup: " + ", ".join(f"{k} {v}" for k, v in setup.items()), ""]
    kinds = list(summary)
    lines += ["| measure | " + " | ".join(KIND_TITLES.get(k, k) for k in kinds) + " |",
              "|---|" + "---|" * len(kinds)]
    for key, label in SUMMARY_ROWS:
        if any(key in summary[k] for k in kinds):
            lines.append(f"| {label} | " + " | ".join(_fmt(summary[k].get(key, math.nan)) for k in kinds) + " |")
    lines += ["", "Lip-sync thresholds: closed <= 2 mm inner-lip distance anywhere in a bilabial, open >= 6 mm "
              "in an open vowel, rest = frames of silences of 0.4 s or more (0.12 s trimmed at each edge).", ""]
    for name, (caption, plot) in plots.items():
        plot.save(folder / f"{name}.png")
        lines += [f"![{caption}]({name}.png)", "", f"*{caption}* ({plot.describe()})", ""]
    lines += ["## Per clip", ""]
    columns = ("id", "kind", "seconds", "lipsync_bilabials", "lipsync_bilabials_closed", "lipsync_open_vowels_open",
               "lipsync_rest_closed", "lve_mm", "mod_mm", "beat_alignment", "style_cosine_own")
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for result in results:
        row = result.row()
        lines.append("| " + " | ".join(_fmt(row.get(c, "")) for c in columns) + " |")
    path = folder / "report.md"
    path.write_text("\n".join(lines) + "\n")
    data = {"setup": setup, "summary": summary, "clips": [r.row() for r in results]}
    (folder / "metrics.json").write_text(json.dumps(_strict(data), indent=1))
    return path
