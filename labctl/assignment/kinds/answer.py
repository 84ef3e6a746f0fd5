"""`answer`: a number or word from the submission's text, found by a pattern's first group,
compared with a given answer or the planner's (how many VIPs for traffic: over link:)."""

from __future__ import annotations

import re
from typing import Any

from labctl.assignment import checker as v
from labctl.assignment.checker import Checker, Path
from labctl.assignment.kinds import CheckKind, Judgement, register
from labctl.assignment.model import CheckSpec, Measured
from labctl.model.lab import Lab
from labctl.model.planner import PlanError, plan_capacity

# Bounds on what a pattern reads: a student's text is not ours.
MAX_TEXT = 1_000_000


def _planner(check: Checker, value: Any, path: Path) -> bool:
    if (
        not isinstance(value, dict)
        or set(value) - {"traffic", "link", "tolerate"}
        or not {"traffic", "link"} <= set(value)
    ):
        check.problem(path, "must be {traffic: 1.5Gbit, link: 1Gbit} (and tolerate: N, default 1)")
        return False
    return v.rate(check, value["traffic"], (*path, "traffic")) and v.rate(check, value["link"], (*path, "link"))


def _static(check: Checker, params: dict[str, Any], path: Path, lab: Lab | None) -> None:
    if ("expected" in params) == ("planner" in params):
        check.problem(path, "answer needs exactly one of expected: or planner:")


def expected(spec: CheckSpec, lab: Lab) -> str:
    if "expected" in spec.params:
        return str(spec.params["expected"])
    question = spec.params["planner"]
    try:
        result = plan_capacity(
            len(lab.balancers), question["traffic"], question["link"], int(question.get("tolerate", 1))
        )
    except PlanError as exc:
        return f"(no plan: {exc})"
    return str(result.vips)


def same(found: str, wanted: str) -> bool:
    try:
        return float(found) == float(wanted)
    except ValueError:
        return found.strip().casefold() == wanted.strip().casefold()


def judge(spec: CheckSpec, lab: Lab, measured: Measured) -> Judgement:
    if measured.text is None:
        return "inconclusive", 0.0, "no submission given: nothing to read the answer from"
    wanted = expected(spec, lab)
    flags = 0 if spec.params.get("case_sensitive") else re.IGNORECASE
    match = re.search(str(spec.params["pattern"]), measured.text[:MAX_TEXT], flags | re.MULTILINE)
    if match is None or match.group(1) is None:
        return "fail", 0.0, f"no answer found (pattern {spec.params['pattern']!r}); expected {wanted}"
    found = match.group(1)
    if same(found, wanted):
        return "pass", spec.points, f"answered {found}, expected {wanted}"
    return "fail", 0.0, f"answered {found}, expected {wanted}"


register(
    CheckKind(
        "answer",
        judge,
        options={"pattern": v.pattern, "expected": v.scalar, "planner": _planner, "case_sensitive": v.boolean},
        required=("pattern",),
        check=_static,
        needs_submission=True,
        doc="pattern:'s first group in the submission's text equals expected: or the planner's VIP count",
    )
)
