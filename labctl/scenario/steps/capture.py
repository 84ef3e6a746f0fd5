"""`capture TARGET`: poll balancers for VIP ownership, VRRP states and IPVS tables;
`stop_capture TARGET|all`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.model.lab import Lab
from labctl.scenario import polling as capture_mod
from labctl.scenario.checks import Checker, Path, anything, boolean, number, target
from labctl.scenario.model import Step
from labctl.scenario.steps import StepKind, register

if TYPE_CHECKING:
    from labctl.scenario.runstate import RunContext


def check(check: Checker, step: Step, path: Path, lab: Lab | None, refs: set[str]) -> None:
    if step.value not in (None, "all"):
        target(check, step.value, (*path, step.kind), lab, refs)


def run(engine: RunContext, step: Step) -> None:
    spec = capture_mod.CaptureSpec(
        interval=float(step.options.get("interval", 0.2)),
        ipvs=bool(step.options.get("ipvs", True)),
        stats=bool(step.options.get("stats", False)),
        conns=bool(step.options.get("conns", False)),
        timeout=bool(step.options.get("timeout", False)),
    )
    nodes = engine.nodes(step.value, "balancer")
    for node in nodes:
        engine.capture_specs[node] = spec
    engine.for_each_node(nodes, engine.start_capture)


def run_stop(engine: RunContext, step: Step) -> None:
    nodes = list(engine.captures) if step.value in (None, "all") else engine.nodes(step.value, "balancer")
    for node in nodes:
        engine.stop_capture(node)
        engine.capture_specs.pop(node, None)


register(
    StepKind(
        "capture",
        anything,
        run,
        {"interval": number(0.05), "ipvs": boolean, "stats": boolean, "conns": boolean, "timeout": boolean},
        check=check,
        doc="poll balancers for addresses, VRRP states and IPVS",
    ),
    StepKind("stop_capture", anything, run_stop, check=check, doc="end polling (or all)"),
)
