import math

from backend.evaluation.style_transfer import EDITS
from backend.model import load_model
from backend.training.guidance_search import GuidanceTrial, best_trial, search_guidance, trials_table


def _trial(audio, closures, lve, rest=1.0):
    return GuidanceTrial(audio, 1.0, closures, 1.0, rest, lve)


def test_best_trial_takes_the_top_score_and_breaks_near_ties_by_vertex_error():
    trials = [_trial(1.0, 0.70, 1.0), _trial(1.5, 0.91, 3.0), _trial(2.0, 0.905, 2.0), _trial(2.5, 0.89, 1.5),
              _trial(3.0, 0.99, 1.0, rest=0.2)]
    assert best_trial(trials) is trials[2]  # 0.91 and 0.905 tie within 0.003 of the mean; lower LVE wins
    assert best_trial(trials[:2]) is trials[1]


def test_best_trial_buys_style_transfer_with_at_most_the_lip_sync_slack():
    trials = [_trial(1.5, 0.95, 2.0), _trial(2.0, 0.93, 2.5), _trial(2.5, 0.80, 1.0)]
    for trial, style in zip(trials, (0.2, 0.6, 0.9)):
        trial.style_transfer = style
    assert best_trial(trials) is trials[1]  # 0.9 style costs 0.05 of score, over the slack


def test_score_leaves_out_rest_when_no_clip_has_silence():
    assert _trial(1.0, 0.5, 1.0, rest=math.nan).score == 0.75


def test_search_measures_every_pair_on_held_out_clips(tiny_corpus, tiny_model):
    bundle = load_model(tiny_model / "checkpoint")
    trials = search_guidance(bundle, tiny_corpus, "test", clips=1, seconds=4.0, grid=((1.0, 1.0), (2.5, 2.0)),
                             style_speakers=1)
    assert [(t.audio_scale, t.style_scale) for t in trials] == [(1.0, 1.0), (2.5, 2.0)]
    for t in trials:
        assert 0.0 <= t.open_vowels_open <= 1.0 and t.lve_mm > 0.0
        assert 0.0 <= t.style_transfer <= 1.0 and set(t.style_effects) == {e.name for e in EDITS}
    assert trials[0].lve_mm != trials[1].lve_mm, "the scales reach the sampler"
    assert trials[0].style_effects != trials[1].style_effects
    table = trials_table(trials, best_trial(trials))
    assert table.count("\n") == 4 and table.count("**") == 2 * (7 + len(EDITS) + 1)


def test_style_section_goes_between_the_lip_sync_table_and_the_clips(tiny_corpus, tiny_model, tmp_path):
    from backend.training.recipe import add_style_section

    report = tmp_path / "evaluation.md"
    report.write_text("# Evaluation\n\n| lip sync |\n\n## Per clip\n\n| clip |\n")
    add_style_section(tiny_model / "checkpoint", tiny_corpus, report, speakers=1)
    text = report.read_text()
    assert text.index("| lip sync |") < text.index("## Style transfer") < text.index("## Per clip")
    rows = [line for line in text.splitlines() if line.startswith("| truth |") or line.startswith("| take |")]
    default_style = load_model(tiny_model / "checkpoint").guidance_scales()[1]
    columns = 1 + len({2.0, 3.0} - {default_style})  # the default, then style 2 and 3 unless one is the default
    assert len(rows) == 2 * len(EDITS) and all(line.count("|") == 4 + columns for line in rows)
