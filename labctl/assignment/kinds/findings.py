"""`findings`: the import's findings (a password keepalived cuts, tied backups...) cost points."""

from __future__ import annotations

import re
from typing import Any

from labctl.assignment import checker as v
from labctl.assignment.checker import Checker, Path
from labctl.assignment.kinds import CheckKind, Judgement, register
from labctl.assignment.model import CheckSpec, Measured
from labctl.model.lab import Lab


def _patterns(check: Checker, value: Any, path: Path) -> bool:
    if not isinstance(value, list) or not value:
        check.problem(path, f"must be a list of regular expressions, got {value!r}")
        return False
    good = True
    for index, item in enumerate(value):
        try:
            re.compile(str(item))
        except re.error as exc:
            check.problem((*path, index), f"not a regular expression: {exc}")
            good = False
    return good


def counted(spec: CheckSpec, found: list[str]) -> list[str]:
    """The findings that cost: those matching one of `match:` (all when none is given)."""
    patterns = [re.compile(str(p)) for p in spec.params.get("match") or []]
    return [f for f in found if not patterns or any(p.search(f) for p in patterns)]


def judge(spec: CheckSpec, lab: Lab, measured: Measured) -> Judgement:
    if measured.findings is None:
        return "inconclusive", 0.0, "no submission given: its findings are unknown"
    costly = counted(spec, measured.findings)
    each = float(spec.params.get("each", spec.points))
    earned = max(0.0, spec.points - each * len(costly))
    if not costly:
        return "pass", spec.points, "no findings"
    first = costly[0] if len(costly[0]) <= 120 else costly[0][:117] + "..."
    return "fail", earned, f"{len(costly)} finding(s), -{each:g} each: {first}"


register(
    CheckKind(
        "findings",
        judge,
        options={"each": v.number(0), "match": _patterns},
        needs_submission=True,
        doc="each import finding (or each matching match:) costs `each` points (default: all of them)",
    )
)
