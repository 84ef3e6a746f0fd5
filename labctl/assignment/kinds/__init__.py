"""The registry of check kinds: each kind's schema, static check, what it needs measured and
how it is judged live in one module here, so a new kind is one new file (and one line below).

A kind never measures anything itself: `plan` names the scenario runs it needs (run by the
scenario engine and summed up by the report's analysis, in labctl.grading), and `judge` turns
their summaries, or the submission's findings and text, into a status, points and evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labctl.assignment.checker import Checker, Path, Validator
from labctl.assignment.model import CheckSpec, Measured, ScenarioRun, Status
from labctl.model.lab import Lab
from labctl.observe.summary import RunSummary

StaticCheck = Callable[[Checker, dict[str, Any], Path, Lab | None], None]
Plan = Callable[[CheckSpec, Lab], list[ScenarioRun]]
Judgement = tuple[Status, float, str]  # status, points earned, one line of evidence
Judge = Callable[[CheckSpec, Lab, Measured], Judgement]


def no_runs(spec: CheckSpec, lab: Lab) -> list[ScenarioRun]:
    return []


@dataclass(frozen=True)
class CheckKind:
    name: str
    judge: Judge
    plan: Plan = no_runs
    options: dict[str, Validator] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    check: StaticCheck | None = None
    needs_submission: bool = False  # findings, answer: judged from the submission, not the lab
    doc: str = ""


REGISTRY: dict[str, CheckKind] = {}


def register(*kinds: CheckKind) -> None:
    for kind in kinds:
        REGISTRY[kind.name] = kind


ORDER = ("serves", "owners", "survives", "capacity", "findings", "answer")


def all_kinds() -> dict[str, CheckKind]:
    """Every registered kind (the built-in modules are imported on first use)."""
    from labctl.assignment.kinds import answer, capacity, findings, owners, serves, survives  # noqa: F401

    rank = {name: i for i, name in enumerate(ORDER)}
    return dict(sorted(REGISTRY.items(), key=lambda item: rank.get(item[0], len(rank))))


def known_nodes(check: Checker, params: dict[str, Any], key: str, path: Path, names: set[str] | None) -> None:
    """Each name in PARAMS[KEY] is one of NAMES (when the lab is known)."""
    listed = params.get(key)
    if names is None or not isinstance(listed, list):
        return
    for index, name in enumerate(listed):
        if name not in names:
            check.problem((*path, key, index), f"no {name!r} in the lab ({', '.join(sorted(names))})")


def vip_names(lab: Lab | None) -> set[str] | None:
    return None if lab is None else {v.name for v in lab.vips}


def balancer_names(lab: Lab | None) -> set[str] | None:
    return None if lab is None else {b.name for b in lab.balancers}


def verdict_of(summary: RunSummary) -> Status:
    """The report's own verdict of a run (fidelity included): a missing one is a failed run."""
    found = (summary.get("verdict") or {}).get("verdict")
    return found if found in ("pass", "fail", "inconclusive") else "fail"


def run_failed(summary: RunSummary | None, what: str) -> Judgement:
    """The fail of a check whose one run is missing (None) or stopped; WHAT names the run
    (probe, traffic, polling)."""
    if summary is None:
        return "fail", 0.0, f"no {what} run"
    return "fail", 0.0, f"the {what} run stopped: {summary.get('error')}"


def combine(statuses: list[Status]) -> Status:
    """fail beats inconclusive beats pass: an unjudgeable run is never counted as a fail."""
    if "fail" in statuses:
        return "fail"
    return "inconclusive" if "inconclusive" in statuses else "pass"
