"""The pieces every step kind's static check is made of: the checker that turns a key path into
`FILE:LINE: key.path: reason`, and small validators for option values."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from labctl.model.lab import Lab
from labctl.model.positions import Located
from labctl.model.problems import Problem, ProblemList
from labctl.model.targets import TargetError, check_target, parse_target

Path = tuple[Any, ...]


class Unresolved(str):
    """A `${name}` whose parameter is already reported as bad: not checked again."""


class Checker:
    def __init__(self, located: Located, file: str) -> None:
        self.located = located
        self.file = file
        self.problems = ProblemList(file)
        self.broken: set[str] = set()

    def problem(self, path: Path, message: str | Callable[[], str]) -> None:
        """Note a problem at PATH; a MESSAGE that costs to word is a function, called only when
        the problem is listed."""

        def make() -> Problem:
            text = message if isinstance(message, str) else message()
            return Problem(self.file, self.located.line_of(path), ".".join(str(p) for p in path), text)

        self.problems.add(make)

    def where(self, path: Path) -> str:
        line = self.located.line_of(path)
        return f"{self.file}:{line}" if line else self.file


Validator = Callable[[Checker, Any, Path], bool]


def number(low: float = 0.0, integer: bool = False) -> Validator:
    def ok(check: Checker, value: Any, path: Path) -> bool:
        good = not isinstance(value, bool) and isinstance(value, int if integer else (int, float))
        if not good or not math.isfinite(value) or value < low:
            kind = "a whole number" if integer else "a number"
            check.problem(path, f"must be {kind} >= {low:g}, got {value!r}")
            return False
        return True

    return ok


def boolean(check: Checker, value: Any, path: Path) -> bool:
    if not isinstance(value, bool):
        check.problem(path, f"must be true or false, got {value!r}")
        return False
    return True


def text(check: Checker, value: Any, path: Path) -> bool:
    if not isinstance(value, str) or not value:
        check.problem(path, f"must be a non-empty string, got {value!r}")
        return False
    return True


def anything(check: Checker, value: Any, path: Path) -> bool:
    return True


def vip_list(check: Checker, value: Any, path: Path) -> bool:
    if value == "all" or (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
        return True
    check.problem(path, f"must be 'all' or a list of VRRP instances such as [VI_1], got {value!r}")
    return False


def known_vips(check: Checker, vips: Any, path: Path, lab: Lab | None) -> None:
    """Each VRRP instance named in a `vips:` list exists in LAB (when the lab is known)."""
    if lab is None or not isinstance(vips, list):
        return
    known = {v.name for v in lab.vips}
    for i, vip in enumerate(vips):
        if vip not in known:
            check.problem((*path, "vips", i), f"no VRRP instance {vip!r} ({', '.join(sorted(known))})")


def target(check: Checker, value: Any, path: Path, lab: Lab | None, refs: set[str]) -> None:
    """A node, role, `{master_of: VI_1}` or a remembered ref that the lab has."""
    try:
        parsed = parse_target(value)
    except TargetError as exc:
        check.problem(path, f"bad target: {exc}")
        return
    reason = check_target(parsed, lab, refs)
    if reason:
        check.problem(path, f"bad target: {reason}")
