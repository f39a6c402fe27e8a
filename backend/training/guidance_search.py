"""Choosing a trained model's default guidance scales on held-out validation speakers.

Classifier-free guidance trades lip sync against smoothness and style: a short training
run follows the audio too softly at the reference's scales (audio 1.15, style 3.0), too
much audio guidance breaks the mouth's rest in silence, and too little style guidance
leaves the output deaf to its style reference. Every pair is scored on lip sync (the mean
of the closure, open-vowel and rest rates) and on style transfer (how far controlled
references move the output, ``backend.evaluation.style_transfer``); the pair chosen has
the best style transfer among those within ``LIP_SYNC_SLACK`` of the best lip sync, so
style never costs more than that in lip sync. The scales are chosen on the validation
speakers, never on the test speakers or the real recordings the report quotes, and are
stored in the model as its defaults.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# (audio, style) pairs around the region where short runs lip-sync best, with the style
# scales that make a style reference count.
GRID = ((1.5, 1.0), (1.5, 2.0), (1.5, 3.0), (2.0, 1.0), (2.0, 2.0), (2.0, 3.0))
# The kind of evaluate_corpus result scored: true phone times separate the model's lip
# sync from the recognizer, which hears the synthetic voices poorly.
SCORED_KIND = "synthetic, true phones"
# Lower lip-vertex error breaks ties between scores closer than this: about one closure in
# a hundred, so the lip-sync rates decide and the vertex error only settles real ties.
TIE = 0.003
# How much lip-sync score a better style transfer may cost: about two closures in a hundred.
LIP_SYNC_SLACK = 0.02


@dataclass
class GuidanceTrial:
    audio_scale: float
    style_scale: float
    closures_reached: float  # of the ground truth's own bilabial closures
    open_vowels_open: float
    rest_closed: float
    lve_mm: float
    style_transfer: float = math.nan  # 0..1, ``style_transfer.transfer_score``
    style_effects: dict = field(default_factory=dict)  # edit name -> effect

    @property
    def score(self) -> float:
        """Mean of the three lip-sync rates (rest left out when the clips have no silence)."""
        rates = [r for r in (self.closures_reached, self.open_vowels_open, self.rest_closed) if not math.isnan(r)]
        return sum(rates) / len(rates)


def best_trial(trials: list) -> GuidanceTrial:
    """Among the trials within LIP_SYNC_SLACK of the best lip-sync score, the best style
    transfer (when measured); among those within TIE of that, the lowest lip-vertex error."""
    top = max(t.score for t in trials)
    candidates = [t for t in trials if t.score >= top - LIP_SYNC_SLACK]
    if all(math.isnan(t.style_transfer) for t in candidates):
        candidates = [t for t in trials if t.score >= top - TIE]
    else:
        best_style = max(t.style_transfer for t in candidates if not math.isnan(t.style_transfer))
        candidates = [t for t in candidates if t.style_transfer >= best_style - TIE]
    return min(candidates, key=lambda t: t.lve_mm)


def search_guidance(bundle, corpus, split: str = "val", clips: int = 4, seconds: float = 12.0,
                    grid=GRID, style_speakers: int = 2) -> list:
    """Evaluate every (audio, style) pair of ``grid`` on ``split``; -> [GuidanceTrial].

    style_speakers: speakers of ``split`` whose controlled references measure style
    transfer (0: lip sync only)."""
    from ..evaluation.evaluate import evaluate_corpus
    from ..evaluation.report import aggregate, eval_head
    from ..evaluation.style_transfer import measure_transfer, transfer_score
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
        if style_speakers:
            trial.style_effects = measure_transfer(bundle, corpus, split, style_speakers, **kwargs)
            trial.style_transfer = transfer_score(trial.style_effects)
        log.info("guidance audio %.2f style %.2f: score %.3f (closures %.2f, open vowels %.2f, rest %.2f, LVE %.2f mm), "
                 "style transfer %.2f %s", audio_scale, style_scale, trial.score, trial.closures_reached,
                 trial.open_vowels_open, trial.rest_closed, trial.lve_mm, trial.style_transfer,
                 {k: round(v, 2) for k, v in trial.style_effects.items()})
        trials.append(trial)
    return trials


def trials_table(trials: list, chosen: GuidanceTrial) -> str:
    """Markdown table of the search, the chosen row in bold."""
    edits = list(next((t.style_effects for t in trials if t.style_effects), {}))
    lines = ["| audio scale | style scale | closures reached | open vowels open | rest closed | LVE, mm | lip-sync score | "
             + "".join(f"{e} | " for e in edits) + "style transfer |",
             "|---|---|---|---|---|---|---|" + "---|" * (len(edits) + 1)]
    for t in trials:
        cells = [f"{t.audio_scale:g}", f"{t.style_scale:g}", f"{t.closures_reached:.2f}", f"{t.open_vowels_open:.2f}",
                 f"{t.rest_closed:.2f}", f"{t.lve_mm:.2f}", f"{t.score:.3f}"]
        cells += [f"{t.style_effects.get(e, math.nan):.2f}" for e in edits] + [f"{t.style_transfer:.2f}"]
        if t is chosen:
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
