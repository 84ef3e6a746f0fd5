"""Outcomes summed up: points, the overall status and `labctl check`'s exit code."""

from __future__ import annotations

from labctl.assignment.kinds import Judgement, combine
from labctl.assignment.model import CheckSpec, Outcome, Status

# 0 all passed, 1 a check failed, 3 only inconclusive ones left (2 is a bad assignment file).
EXIT_CODES: dict[Status, int] = {"pass": 0, "fail": 1, "inconclusive": 3}
BAD_ASSIGNMENT = 2


def outcome(spec: CheckSpec, judgement: Judgement, folders: tuple[str, ...] = (), seconds: float = 0.0) -> Outcome:
    status, earned, evidence = judgement
    # Points never exceed the check's own, nor go below zero, whatever a kind computed.
    earned = min(max(earned, 0.0), spec.points)
    evidence = " ".join(evidence.split())
    return Outcome(spec.name, spec.kind, status, round(earned, 3), spec.points, evidence, folders, seconds)


def overall(outcomes: list[Outcome]) -> Status:
    return combine([o.status for o in outcomes])


def exit_code(outcomes: list[Outcome]) -> int:
    return EXIT_CODES[overall(outcomes)]


def total(outcomes: list[Outcome]) -> float:
    return round(sum(o.points for o in outcomes), 3)
