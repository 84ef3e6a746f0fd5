"""Reading an assignment file: title and checks, each checked against its kind's schema (and,
when a lab is given, against the lab). Every problem is `FILE:LINE: key.path: reason`, and a
file with any problem is refused before anything runs."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from labctl.assignment.checker import AssignmentError, Checker
from labctl.assignment.kinds import all_kinds
from labctl.assignment.model import Assignment, CheckSpec
from labctl.model.lab import Lab
from labctl.model.positions import YamlSyntaxError, load
from labctl.model.problems import Problem

CHECK_KEYS = ("name", "description", "points", "kind")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def read_assignment(path: Path | str, lab: Lab | None = None) -> Assignment:
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise AssignmentError([Problem(str(path), None, "", f"cannot read: {exc}")]) from exc
    return parse_assignment(text, str(path), lab)


def parse_assignment(text: str, file: str = "assignment.yaml", lab: Lab | None = None) -> Assignment:
    try:
        located = load(text)
    except YamlSyntaxError as exc:
        raise AssignmentError([Problem(file, exc.line, "", exc.message)]) from exc
    check = Checker(located, file)
    data = located.data
    if not isinstance(data, dict) or "checks" not in data:
        raise AssignmentError([Problem(file, 1, "", "an assignment is a mapping with title and checks")])
    for key in data:
        if key not in ("title", "checks"):
            check.problem((key,), _unknown("unknown key", key, ("title", "checks")))
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        check.problem(("title",), "an assignment needs a title")
        title = ""
    raw = data.get("checks")
    checks: list[CheckSpec] = []
    if not isinstance(raw, list) or not raw:
        check.problem(("checks",), "an assignment needs a list of checks")
    else:
        seen: set[str] = set()
        for index, item in enumerate(raw):
            spec = _check(check, item, ("checks", index), lab, seen)
            if spec is not None:
                checks.append(spec)
    if check.problems:
        raise AssignmentError(check.problems)
    return Assignment(str(title).strip(), file, tuple(checks))


def _check(check: Checker, item: Any, path: tuple[Any, ...], lab: Lab | None, seen: set[str]) -> CheckSpec | None:
    kinds = all_kinds()
    if not isinstance(item, dict):
        check.problem(path, "a check is a mapping with name, description, points, kind and its parameters")
        return None
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        check.problem((*path, "name"), "a check needs a name: letters, digits, '.', '_' or '-' (at most 64)")
    elif name in seen:
        check.problem((*path, "name"), f"a second check named {name!r}")
    else:
        seen.add(name)
    description = item.get("description", "")
    if not isinstance(description, str):
        check.problem((*path, "description"), "the description is text")
    points = item.get("points")
    if isinstance(points, bool) or not isinstance(points, int | float) or points < 0:
        check.problem((*path, "points"), f"points must be a number >= 0, got {points!r}")
    kind_name = item.get("kind")
    kind = kinds.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        check.problem((*path, "kind"), _unknown(f"unknown kind {kind_name!r}", kind_name, tuple(kinds)))
        return None
    params = {k: val for k, val in item.items() if k not in CHECK_KEYS}
    for key, value in params.items():
        if key not in kind.options:
            check.problem((*path, key), _unknown(f"unknown parameter of {kind.name}", key, tuple(kind.options)))
        else:
            kind.options[key](check, value, (*path, key))
    for key in kind.required:
        if key not in params:
            check.problem((*path, "kind"), f"{kind.name} needs `{key}:`")
    if kind.check is not None:
        kind.check(check, params, path, lab)
    if not isinstance(name, str) or not isinstance(points, int | float):
        return None
    return CheckSpec(name, str(description or "").strip(), float(points), kind.name, params, check.where(path))


def _unknown(what: str, key: Any, allowed: tuple[str, ...]) -> str:
    hint = difflib.get_close_matches(str(key), allowed, n=1)
    return what + (f"; did you mean {hint[0]!r}?" if hint else f"; known: {', '.join(allowed) or 'none'}")
