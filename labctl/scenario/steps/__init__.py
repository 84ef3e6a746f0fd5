"""The registry of scenario step kinds: each kind's schema, static check and execution live in
one module here, so a new kind is one new file (and one line below).

A kind is a `StepKind`: the validator of its main value, its options with their validators, the
options it requires, an optional static check (run when the scenario is loaded, with the lab),
and `run(engine, step)`, what the engine does with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from labctl.model.lab import Lab
from labctl.scenario.checks import Checker, Path, Validator
from labctl.scenario.model import Step

if TYPE_CHECKING:
    from labctl.scenario.runstate import RunContext

StaticCheck = Callable[[Checker, Step, Path, Lab | None, set[str]], None]
Runner = Callable[["RunContext", Step], None]


@dataclass(frozen=True)
class StepKind:
    name: str
    value: Validator
    run: Runner
    options: dict[str, Validator] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    check: StaticCheck | None = None
    doc: str = ""


REGISTRY: dict[str, StepKind] = {}


def register(*kinds: StepKind) -> None:
    for kind in kinds:
        REGISTRY[kind.name] = kind


# The order in which error messages and `labctl scenario show` list the kinds.
ORDER = ("probe", "stop_probe", "capture", "stop_capture", "traffic", "stop_traffic", "counters", "stop_counters",
         "wait", "wait_until", "action", "expect", "foreach", "note", "mark")  # fmt: skip


def all_kinds() -> dict[str, StepKind]:
    """Every registered kind (the built-in modules are imported on first use)."""
    from labctl.scenario.steps import action, capture, expect, foreach, notes, probe, traffic, wait  # noqa: F401

    rank = {name: i for i, name in enumerate(ORDER)}
    return dict(sorted(REGISTRY.items(), key=lambda item: rank.get(item[0], len(rank))))
