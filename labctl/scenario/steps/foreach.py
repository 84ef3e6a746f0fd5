"""`foreach TARGET` with `as: NAME` and `steps:`: the inner steps once per node, NAME bound to it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.model.lab import Lab
from labctl.scenario.checks import Checker, Path, anything, target, text
from labctl.scenario.model import Step
from labctl.scenario.steps import StepKind, register

if TYPE_CHECKING:
    from labctl.scenario.runstate import RunContext


def check(check: Checker, step: Step, path: Path, lab: Lab | None, refs: set[str]) -> None:
    if step.value not in (None, "all"):
        target(check, step.value, (*path, "foreach"), lab, refs)


def run(engine: RunContext, step: Step) -> None:
    nodes = engine.nodes(step.value, "balancer")
    name = str(step.options["as"])
    for node in nodes:
        engine.refs[name] = node
        engine.event("iteration", name=name, node=node)
        engine.steps(step.steps)
        engine.event("iteration_end", name=name, node=node)


register(
    StepKind(
        "foreach",
        anything,
        run,
        {"as": text, "steps": anything},
        ("as", "steps"),
        check=check,
        doc="repeat inner steps for each node",
    )
)
