"""Choosing a trained model's default guidance scales on held-out validation speakers.

Classifier-free guidance trades lip sync against smoothness: a short training run follows
the audio too softly at the reference's scales (audio 1.15, style 3.0), and too much audio
guidance breaks the mouth's rest in silence. The scales are chosen on the validation
speakers, never on the test speakers or the real recordings the report quotes, and are
stored in the model as its defaults.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

log = logging.getLogger(__name__)

# (audio, style) pairs around the region where short runs lip-sync best.
GRID = ((1.15, 3.0), (1.5, 1.0), (1.5, 2.0), (2.0, 1.0), (2.0, 2.0), (2.0, 3.0), (2.5, 1.5))
# The kind of evaluate_corpus result scored: true phone times separate the model's lip
# sync from the recognizer, which hears the synthetic voices poorly.
SCORED_KIND = "synthetic, true phones"
# Lower lip-vertex error breaks ties between scores closer than this: about one closure in
# a hundred, so the lip-sync rates decide and the vertex error only settles real ties.
TIE = 0.003


@dataclass
class GuidanceTrial:
    audio_scale: float
    style_scale: float
    closures_reached: float  # of the ground truth's own bilabial closures
    open_vowels_open: float
    rest_closed: float
    lve_mm: float

    @property
    def score(self) -> float:
        """Mean of the three lip-sync rates (rest left out when the clips have no silence)."""
        rates = [r for r in (self.closures_reached, self.open_vowels_open, self.rest_closed) if not math.isnan(r)]
        return sum(rates) / len(rates)


def best_trial(trials: list) -> GuidanceTrial:
    """The highest score; among those within TIE of it, the lowest lip-vertex error."""
    top = max(t.score for t in trials)
    return min((t for t in trials if t.score >= top - TIE), key=lambda t: t.lve_mm)


def search_guidance(bundle, corpus, split: str = "val", clips: int = 4, seconds: float = 12.0,
                    grid=GRID) -> list:
    """Evaluate every (audio, style) pair of ``grid`` on ``split``; -> [GuidanceTrial]."""
    from ..evaluation.evaluate_cli import evaluate_corpus
    from ..evaluation.report import aggregate, eval_head
    from ..heads import load_head

    if bundle.expression_space != "arkit":
        raise ValueError("the guidance search measures lip sync on the built-in head: an 'arkit' model is needed")
    ehead = eval_head(load_head("builtin"))
    trials = []
    for audio_scale, style_scale in grid:
        kwargs = {"audio_scale": audio_scale, "style_scale": style_scale}
        results, _, _ = evaluate_corpus(bundle, ehead, corpus, split, clips, seconds, seeds=1, diversity_clips=0,
                                        generate_kwargs=kwargs, with_recognizer=False)
        summary = aggregate(results)
        means = summary.get(SCORED_KIND) or summary["synthetic"]
        trial = GuidanceTrial(audio_scale, style_scale, means.get("pooled_gt_closures_reached", math.nan),
                              means.get("pooled_open_vowels_open", math.nan), means.get("pooled_rest_closed", math.nan),
                              means["lve_mm"])
        log.info("guidance audio %.2f style %.2f: score %.3f (closures %.2f, open vowels %.2f, rest %.2f, LVE %.2f mm)",
                 audio_scale, style_scale, trial.score, trial.closures_reached, trial.open_vowels_open,
                 trial.rest_closed, trial.lve_mm)
        trials.append(trial)
    return trials


def trials_table(trials: list, chosen: GuidanceTrial) -> str:
    """Markdown table of the search, the chosen row in bold."""
    lines = ["| audio scale | style scale | closures reached | open vowels open | rest closed | LVE, mm | score |",
             "|---|---|---|---|---|---|---|"]
    for t in trials:
        cells = [f"{t.audio_scale:g}", f"{t.style_scale:g}", f"{t.closures_reached:.2f}", f"{t.open_vowels_open:.2f}",
                 f"{t.rest_closed:.2f}", f"{t.lve_mm:.2f}", f"{t.score:.3f}"]
        if t is chosen:
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
