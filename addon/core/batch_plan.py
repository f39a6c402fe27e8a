"""A batch over the Sequencer's sound strips: which strip goes onto which rig, and how far
the run has got (no bpy).

The rule an animator can check in the Batch panel: a strip goes onto the rig set on it
(its Rig field), else onto the active rig. A strip is left out, with the reason in the
report, when it is muted or when its audio or its rig is not usable. Strips run in the
order they play; a strip's take replaces the rig's keys of ours over the strip's frames
only, so several strips on one rig end up in one Action, each over its own frames (where
two overlap, the later strip's take wins).
"""
from __future__ import annotations

from dataclasses import dataclass, field

NO_RIG = "no rig: set its Rig in the Batch panel, or select a rig"


@dataclass(frozen=True)
class StripFacts:
    """What the plan needs to know about one sound strip."""

    name: str
    frame_start: float           # the first frame it plays
    rig: str | None = None       # the rig set on the strip; None: none set
    muted: bool = False
    audio_problem: str | None = None  # why its audio cannot be used, if it cannot


@dataclass(frozen=True)
class PlannedStrip:
    strip: str
    rig: str


@dataclass
class Plan:
    strips: list = field(default_factory=list)   # PlannedStrip, in the order they play
    skipped: list = field(default_factory=list)  # (strip name, why)


def rig_of(strip: StripFacts, active_rig: str | None) -> str | None:
    """The rig a strip goes onto: its own, else the active one."""
    return strip.rig or active_rig


def plan_batch(strips, active_rig: str | None, rig_problems: dict) -> Plan:
    """The strips to generate and the ones left out; ``rig_problems`` maps every rig that
    ``rig_of`` names to None (usable) or the reason it is not."""
    plan = Plan()
    for strip in sorted(strips, key=lambda s: (s.frame_start, s.name)):
        rig = rig_of(strip, active_rig)
        if strip.muted:
            reason = "muted"
        elif strip.audio_problem:
            reason = strip.audio_problem
        elif rig is None:
            reason = NO_RIG
        elif rig_problems.get(rig):
            reason = rig_problems[rig]
        else:
            plan.strips.append(PlannedStrip(strip.name, rig))
            continue
        plan.skipped.append((strip.name, reason))
    return plan


@dataclass
class BatchRun:
    """A plan being worked through one strip at a time."""

    plan: Plan
    index: int = 0                                 # the strip running now (or next)
    written: list = field(default_factory=list)    # (strip, rig)
    failed: list = field(default_factory=list)     # (strip, why)
    cancelled: bool = False

    @property
    def total(self) -> int:
        return len(self.plan.strips)

    @property
    def current(self) -> PlannedStrip | None:
        if self.cancelled or self.index >= self.total:
            return None
        return self.plan.strips[self.index]

    @property
    def finished(self) -> bool:
        return self.current is None

    def done(self) -> None:
        """The current strip's take is written."""
        self.written.append((self.current.strip, self.current.rig))
        self.index += 1

    def fail(self, why: str) -> None:
        """The current strip got no take; the run goes on with the next."""
        self.failed.append((self.current.strip, (why.splitlines() or [""])[0]))
        self.index += 1

    def cancel(self) -> None:
        self.cancelled = True

    @property
    def not_run(self) -> list:
        """Strips a cancel left without a take (the one cancelled included)."""
        return [planned.strip for planned in self.plan.strips[self.index:]] if self.cancelled else []

    def fraction(self, strip_fraction: float) -> float:
        """Of the whole run, with the current strip ``strip_fraction`` done."""
        if self.total == 0:
            return 1.0
        return min(1.0, (self.index + max(0.0, min(1.0, strip_fraction))) / self.total)

    def report(self) -> list:
        """Lines for the panel: what was written, what failed, was left out or not run."""
        head = (f"Batch cancelled: {len(self.written)} of {self.total} strips written" if self.cancelled
                else f"Batch: {len(self.written)} of {self.total} strips written")
        lines = [head + "".join(f"; {strip} on {rig!r}" for strip, rig in self.written)]
        lines += [f"Failed: {strip}: {why}" for strip, why in self.failed]
        lines += [f"Left out: {strip}: {why}" for strip, why in self.plan.skipped]
        if self.not_run:
            lines.append("Not run (cancelled): " + ", ".join(self.not_run))
        return lines
