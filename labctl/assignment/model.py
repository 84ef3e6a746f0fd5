"""What an assignment file holds, what a check needs measured, and what it scored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from labctl.observe.summary import RunSummary

Status = Literal["pass", "fail", "inconclusive"]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    description: str
    points: float
    kind: str
    params: dict[str, Any]
    where: str  # FILE:LINE of the check, for messages


@dataclass(frozen=True)
class Assignment:
    title: str
    file: str
    checks: tuple[CheckSpec, ...]

    @property
    def max_points(self) -> float:
        return sum(c.points for c in self.checks)


@dataclass(frozen=True)
class ScenarioRun:
    """One scenario run a check needs: a label for its evidence, the built-in scenario's name and
    its parameters (`--set` values)."""

    label: str
    scenario: str
    overrides: dict[str, str]


@dataclass
class Measured:
    """What the runner gathered for one check: each run's summary.json and folder, and the
    submission's findings and text (None when no submission was given)."""

    summaries: dict[str, RunSummary] = field(default_factory=dict)
    folders: dict[str, str] = field(default_factory=dict)
    findings: list[str] | None = None
    text: str | None = None


@dataclass(frozen=True)
class Outcome:
    check: str
    kind: str
    status: Status
    points: float  # earned
    max_points: float
    evidence: str  # one line
    folders: tuple[str, ...] = ()
    seconds: float = 0.0  # the check's runs, wall clock: where a student's grading time goes

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "kind": self.kind,
            "status": self.status,
            "points": self.points,
            "max_points": self.max_points,
            "evidence": self.evidence,
            "folders": list(self.folders),
            "seconds": self.seconds,
        }
