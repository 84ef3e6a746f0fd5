"""`action NAME`: break or repair a node (power, keepalived, link, nginx, IPVS timeouts, link
impairments, VRRP cuts, rate shaping, the traffic experiment's IPVS services), each change
remembered so cleanup can put it back."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from labctl.lab.links import linkshaping
from labctl.model import when
from labctl.model.lab import Lab
from labctl.observe.runrecords import PHASE
from labctl.scenario import actions, linkactions
from labctl.scenario.checks import Checker, Path, anything, number, target, text
from labctl.scenario.model import Step
from labctl.scenario.steps import StepKind, register

if TYPE_CHECKING:
    from labctl.scenario.runstate import RunContext

ACTIONS = (
    "power-off",
    "power-on",
    "keepalived-stop",
    "keepalived-kill",
    "keepalived-start",
    "link-down",
    "link-up",
    "nginx-stop",
    "nginx-start",
    "ipvs-timeouts",
    "impair",
    "impair-clear",
    "vrrp-cut",
    "vrrp-restore",
    "shape",
    "unshape",
    "iperf-services",
    "iperf-services-clear",
    "down",
    "up",
)
METHODS = ("poweroff", "keepalived-stop", "keepalived-kill", "link-down")


def check(check: Checker, step: Step, path: Path, lab: Lab | None, refs: set[str]) -> None:
    value, options = step.value, step.options
    if value not in ACTIONS:
        hint = difflib.get_close_matches(str(value), ACTIONS, n=1)
        more = f"; did you mean {hint[0]!r}?" if hint else f"; actions: {', '.join(ACTIONS)}"
        check.problem((*path, "action"), f"unknown action {value!r}{more}")
    if "target" in options:
        target(check, options["target"], (*path, "target"), lab, refs)
    elif value != "ipvs-timeouts":
        check.problem((*path, "action"), f"action {value} needs `target:`")
    if value in ("down", "up"):
        if options.get("method") not in METHODS:
            check.problem(
                (*path, "method") if "method" in options else (*path, "action"),
                f"{value} needs `method:` one of {', '.join(METHODS)}",
            )
    elif "method" in options:
        check.problem((*path, "method"), "only the down and up actions take a method")
    if value == "ipvs-timeouts" and not {"tcp", "tcpfin", "udp"} & set(options):
        check.problem((*path, "action"), "ipvs-timeouts needs tcp, tcpfin and/or udp")
    if "port" in options and value != "iperf-services":
        check.problem((*path, "port"), "only iperf-services takes port")
    _check_link(check, step, path)
    condition = options.get("when")
    if isinstance(condition, str) and not when.well_formed(condition):
        check.problem((*path, "when"), when.SHAPE)
    if isinstance(options.get("as"), str):
        refs.add(options["as"])  # later steps may name the node it acted on


LINK_OPTIONS = {"impair": ("delay", "jitter", "loss", "direction", "at"), "vrrp-cut": ("direction", "at"),
                "shape": ("rate",)}  # fmt: skip


def _check_link(check: Checker, step: Step, path: Path) -> None:
    """Link options belong to link actions; impair needs something to do, shape a rate."""
    value, options = step.value, step.options
    allowed = LINK_OPTIONS.get(str(value), ())
    for name in sorted({o for names in LINK_OPTIONS.values() for o in names} - set(allowed)):
        if name in options:
            check.problem(
                (*path, name), f"only {', '.join(a for a, o in LINK_OPTIONS.items() if name in o)} take {name}"
            )
    if value == "impair" and not {"delay", "jitter", "loss"} & set(options):
        check.problem((*path, "action"), "impair needs delay, jitter and/or loss")
    if value == "shape" and "rate" not in options:
        check.problem((*path, "action"), "shape needs `rate:` (such as 10Mbit)")
    if options.get("direction") not in (None, *linkshaping.DIRECTIONS):
        check.problem((*path, "direction"), f"direction must be one of {', '.join(linkshaping.DIRECTIONS)}")
    if options.get("at") not in (None, *linkactions.SIDES):
        check.problem((*path, "at"), f"at must be one of {', '.join(linkactions.SIDES)}")
    if "loss" in options and not _percent(options["loss"]):
        check.problem((*path, "loss"), "loss is a percentage, 0-100")


def _percent(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 100


def run(engine: RunContext, step: Step) -> None:
    condition = step.options.get("when")
    if not when.holds(condition if isinstance(condition, str) else None):
        # Said in the run's events: a reader of the timeline sees why nothing happened here.
        engine.event("skipped", where=step.where, reason=f"not applicable ({condition})")
        return
    method = step.options.get("method")
    action = actions.concrete(str(step.value), method)
    if "target" in step.options:
        nodes = engine.nodes(step.options["target"], "balancer")
    else:
        nodes = [n.name for n in engine.lab.balancers]
    if "as" in step.options:
        engine.refs[str(step.options["as"])] = nodes[0]
    act = lambda node: engine.act(node, action, step.options, requested=str(step.value), method=method)  # noqa: E731
    if PHASE.get(action) == "down":
        # Breaking nodes stays one after the other, in the target's order: the experiment's
        # timeline is read from when each went down.
        for node in nodes:
            act(node)
    else:
        engine.for_each_node(nodes, act)


register(
    StepKind(
        "action",
        text,
        run,
        {
            "target": anything,
            "as": text,
            "method": text,
            "tcp": number(1, True),
            "tcpfin": number(1, True),
            "udp": number(1, True),
            "delay": number(0),
            "jitter": number(0),
            "loss": number(0),
            "direction": text,
            "at": text,
            "rate": text,
            "port": number(1, True),
            "when": text,
        },
        check=check,
        doc="break or repair a node; cleanup undoes it",
    )
)
