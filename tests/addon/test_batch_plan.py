"""The batch's plan and progress without Blender: which strip goes onto which rig."""
import pytest

from diffposetalk.addon.core.batch_plan import NO_RIG, BatchRun, StripFacts, plan_batch


def test_strips_go_onto_their_own_rig_else_the_active_one_in_playing_order():
    strips = [StripFacts("late", 200, rig="Bob rig"), StripFacts("early", 1), StripFacts("middle", 90, rig="Ann rig")]
    plan = plan_batch(strips, "Cat rig", {"Bob rig": None, "Ann rig": None, "Cat rig": None})
    assert [(p.strip, p.rig) for p in plan.strips] == [("early", "Cat rig"), ("middle", "Ann rig"), ("late", "Bob rig")]
    assert plan.skipped == []


def test_strips_without_a_usable_rig_or_audio_are_listed_not_dropped():
    strips = [
        StripFacts("muted", 1, rig="Ann rig", muted=True),
        StripFacts("silent", 2, rig="Ann rig", audio_problem="The sound file of strip 'silent' is missing"),
        StripFacts("cube", 3, rig="Cube", ),
        StripFacts("orphan", 4),
        StripFacts("first", 5, rig="Ann rig"),
        StripFacts("second", 6),
    ]
    plan = plan_batch(strips, None, {"Ann rig": None, "Cube": "'Cube' has no FLAME or ARKit shape keys"})
    assert [p.strip for p in plan.strips] == ["first"]
    reasons = dict(plan.skipped)
    assert list(reasons) == ["muted", "silent", "cube", "orphan", "second"]
    assert plan_batch(strips[-2:], "Ann rig", {"Ann rig": None}).strips[1].rig == "Ann rig", "one rig, two strips"
    assert reasons["muted"] == "muted"
    assert "missing" in reasons["silent"]
    assert "shape keys" in reasons["cube"]
    assert reasons["orphan"] == reasons["second"] == NO_RIG


def test_progress_counts_written_failed_and_cancelled_strips():
    plan = plan_batch([StripFacts(f"line{k}", k, rig=f"rig{k}") for k in range(4)], None,
                      {f"rig{k}": None for k in range(4)})
    run = BatchRun(plan)
    assert run.fraction(0.5) == pytest.approx(0.125)
    run.done()
    run.fail("Lip-sync failed: the backend stopped unexpectedly\nits log lines")
    assert run.current.strip == "line2" and run.fraction(0.0) == pytest.approx(0.5)
    run.cancel()
    assert run.finished and run.current is None
    assert run.not_run == ["line2", "line3"]
    lines = run.report()
    assert lines[0] == "Batch cancelled: 1 of 4 strips written; line0 on 'rig0'"
    assert lines[1] == "Failed: line1: Lip-sync failed: the backend stopped unexpectedly"
    assert lines[-1] == "Not run (cancelled): line2, line3"


def test_a_run_to_the_end_reports_every_strip():
    plan = plan_batch([StripFacts("a", 1, rig="r"), StripFacts("b", 2)], None, {"r": None})
    run = BatchRun(plan)
    run.done()
    assert run.finished and run.fraction(0.3) == 1.0
    assert run.report() == ["Batch: 1 of 1 strips written; a on 'r'", f"Left out: b: {NO_RIG}"]
