"""`wait SECONDS` and `wait_until CONDITION` (holder of a VIP, a real in the IPVS table, a probe
done, InActConn under a bound, every VIP at its master)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from labctl.model.lab import Lab
from labctl.scenario import conditions
from labctl.scenario.checks import Checker, Path, anything, boolean, number, target
from labctl.scenario.model import Step
from labctl.scenario.runstate import StepFailed
from labctl.scenario.steps import StepKind, register

if TYPE_CHECKING:
    from labctl.scenario.runstate import RunContext

CONDITION_KEYS = {
    "holder": ("is", "not", "master", "any", "count"),
    "real": ("in_table",),
    "probe": ("done",),
    "inactconn": ("max",),
    "all_vips": ("at_master",),
}


def run_wait(engine: RunContext, step: Step) -> None:
    engine.sleep(float(step.value))


def check_condition(check: Checker, step: Step, path: Path, lab: Lab | None, refs: set[str]) -> None:
    value: Any = step.value
    path = (*path, step.kind)
    if not isinstance(value, dict):
        check.problem(path, "a condition is a mapping such as {holder: VI_1, not: victim}")
        return
    subjects = [k for k in value if k in CONDITION_KEYS]
    if len(subjects) != 1:
        check.problem(path, f"a condition names one of {', '.join(CONDITION_KEYS)}")
        return
    subject = subjects[0]
    allowed = CONDITION_KEYS[subject]
    for key in value:
        if key != subject and key not in allowed:
            check.problem((*path, key), f"unknown key for a {subject} condition; use {', '.join(allowed)}")
    if not any(k in value for k in allowed):
        check.problem(path, f"a {subject} condition needs one of {', '.join(allowed)}")
    if lab is None:
        return
    name = value[subject]
    if subject == "all_vips" and name is not True:
        check.problem((*path, subject), "write `all_vips: true`")
    if subject in ("holder", "inactconn") and name not in {v.name for v in lab.vips}:
        check.problem((*path, subject), f"no VRRP instance {name!r}")
    if subject == "real" and name not in {n.name for n in lab.reals}:
        check.problem((*path, subject), f"no real server {name!r}")
    for key in ("is", "not"):
        if key in value:
            target(check, value[key], (*path, key), lab, refs)


def run_wait_until(engine: RunContext, step: Step) -> None:
    timeout = float(step.options["timeout"])
    started = time.time()
    check = conditions.Condition(step.value, engine.lab, engine.refs, engine.live, engine.probes)
    while True:
        if check.holds():
            engine.event("wait_until", condition=step.value, held=True, after_s=round(time.time() - started, 3))
            return
        if time.time() - started > timeout:
            engine.event("wait_until", condition=step.value, held=False, after_s=timeout)
            if step.options.get("fail", False):
                raise StepFailed(f"condition {step.value} did not hold within {timeout:g} s")
            return
        engine.sleep(0.05)


register(
    StepKind("wait", number(0), run_wait, doc="sleep SECONDS"),
    StepKind(
        "wait_until",
        anything,
        run_wait_until,
        {"timeout": number(0.1), "fail": boolean},
        ("timeout",),
        check=check_condition,
        doc="wait until a condition holds (or the timeout)",
    ),
)
