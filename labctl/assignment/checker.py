"""Problems of an assignment file as `FILE:LINE: key.path: reason` (positions from
model/positions.py, the bounded list of model/problems.py) and small value validators."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from labctl.model.planner import PlanError, parse_rate
from labctl.model.positions import Located
from labctl.model.problems import Problem, ProblemList, ProblemsError

Path = tuple[Any, ...]


class AssignmentError(ProblemsError):
    """The assignment file cannot be used: every problem with FILE:LINE."""


class Checker:
    def __init__(self, located: Located, file: str) -> None:
        self.located = located
        self.file = file
        self.problems = ProblemList(file)

    def problem(self, path: Path, message: str) -> None:
        line = self.located.line_of(path)
        self.problems.add(lambda: Problem(self.file, line, ".".join(str(p) for p in path), message))

    def where(self, path: Path) -> str:
        line = self.located.line_of(path)
        return f"{self.file}:{line}" if line else self.file


Validator = Callable[[Checker, Any, Path], bool]


def number(low: float = 0.0) -> Validator:
    def ok(check: Checker, value: Any, path: Path) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < low:
            check.problem(path, f"must be a number >= {low:g}, got {value!r}")
            return False
        return True

    return ok


def text(check: Checker, value: Any, path: Path) -> bool:
    if not isinstance(value, str) or not value.strip():
        check.problem(path, f"must be a non-empty string, got {value!r}")
        return False
    return True


def boolean(check: Checker, value: Any, path: Path) -> bool:
    if not isinstance(value, bool):
        check.problem(path, f"must be true or false, got {value!r}")
        return False
    return True


def names(check: Checker, value: Any, path: Path) -> bool:
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return True
    check.problem(path, f"must be a list of names such as [b1, b2], got {value!r}")
    return False


def rate(check: Checker, value: Any, path: Path) -> bool:
    try:
        parse_rate(value)
    except (PlanError, ValueError, TypeError) as exc:
        check.problem(path, f"not a rate such as 15Mbit: {exc}")
        return False
    return True


def choice(*allowed: str) -> Validator:
    def ok(check: Checker, value: Any, path: Path) -> bool:
        if value not in allowed:
            check.problem(path, f"must be one of {', '.join(allowed)}, got {value!r}")
            return False
        return True

    return ok


def pattern(check: Checker, value: Any, path: Path) -> bool:
    if not text(check, value, path):
        return False
    try:
        compiled = re.compile(value)
    except re.error as exc:
        check.problem(path, f"not a regular expression: {exc}")
        return False
    if compiled.groups < 1:
        check.problem(path, "the pattern needs a group, (...), around the answer")
        return False
    return True


def scalar(check: Checker, value: Any, path: Path) -> bool:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        check.problem(path, f"must be a number or a word, got {value!r}")
        return False
    return True


def settings(allowed: tuple[str, ...]) -> Validator:
    """`set:` a mapping of scenario parameters (only ALLOWED ones) to plain values."""

    def ok(check: Checker, value: Any, path: Path) -> bool:
        if not isinstance(value, dict):
            check.problem(path, f"must map parameters ({', '.join(allowed)}) to values")
            return False
        good = True
        for key, item in value.items():
            if key not in allowed:
                check.problem((*path, key), f"not a parameter a check may set; allowed: {', '.join(allowed)}")
                good = False
            elif isinstance(item, dict | list) or item is None:
                check.problem((*path, key), f"must be a plain value, got {item!r}")
                good = False
        return good

    return ok
