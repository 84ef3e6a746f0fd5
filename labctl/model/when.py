"""A step's or an expectation's `when: A == B` / `A != B`: the scenario's parameters are already
substituted when it is read, so the condition is a comparison of two words. Pure."""

from __future__ import annotations

import re

CONDITION = re.compile(r"\s*(\S+)\s*(==|!=)\s*(\S+)\s*")
SHAPE = "use `A == B` or `A != B`"


def well_formed(when: str) -> bool:
    return CONDITION.fullmatch(when) is not None


def holds(when: str | None) -> bool:
    """Whether WHEN holds; no condition (or one that is not a comparison) always holds."""
    if not when:
        return True
    match = CONDITION.fullmatch(when)
    if not match:
        return True
    left, op, right = match.groups()
    return (left == right) == (op == "==")
