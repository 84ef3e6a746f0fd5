"""`owners`: each VIP is held by the master the lab's priorities elect, or by the one in `map:`."""

from __future__ import annotations

from typing import Any

from labctl.assignment.checker import Checker, Path
from labctl.assignment.kinds import CheckKind, Judgement, balancer_names, register, run_failed, vip_names
from labctl.assignment.kinds.serves import SCENARIO
from labctl.assignment.model import CheckSpec, Measured, ScenarioRun
from labctl.model.lab import Lab


def _holders_map(check: Checker, value: Any, path: Path) -> bool:
    if isinstance(value, dict) and value and all(isinstance(k, str) and isinstance(n, str) for k, n in value.items()):
        return True
    check.problem(path, f"must map VRRP instances to balancers, such as {{VI_1: b1}}, got {value!r}")
    return False


def _static(check: Checker, params: dict[str, Any], path: Path, lab: Lab | None) -> None:
    wanted = params.get("map")
    vips, balancers = vip_names(lab), balancer_names(lab)
    if not isinstance(wanted, dict) or vips is None or balancers is None:
        return
    for vip, node in wanted.items():
        if vip not in vips:
            check.problem((*path, "map", vip), f"no VRRP instance {vip!r} ({', '.join(sorted(vips))})")
        if node not in balancers:
            check.problem((*path, "map", vip), f"no balancer {node!r} ({', '.join(sorted(balancers))})")


def plan(spec: CheckSpec, lab: Lab) -> list[ScenarioRun]:
    # serves' own probe run (its 5 s): an assignment with both runs it once.
    return [ScenarioRun("holders", SCENARIO, {"seconds": "5"})]


def expected(spec: CheckSpec, lab: Lab) -> dict[str, str | None]:
    given = spec.params.get("map")
    if isinstance(given, dict):
        return {str(k): str(n) for k, n in given.items()}
    return {vip.name: lab.elected_master(vip) for vip in lab.vips}


def judge(spec: CheckSpec, lab: Lab, measured: Measured) -> Judgement:
    summary = measured.summaries.get("holders")
    if summary is None or summary.get("error"):
        return run_failed(summary, "polling")
    timelines = summary.get("timelines") or {}
    wrong: list[str] = []
    seen: list[str] = []
    for vip, master in expected(spec, lab).items():
        parts = timelines.get(vip) or []
        # The last stretch every balancer was observed in (the capture's end is unobserved).
        seen_parts = [p for p in parts if not p.get("unobserved")] or parts
        holders = seen_parts[-1]["holders"] if seen_parts else []
        seen.append(f"{vip} {','.join(holders) or 'nobody'}")
        if holders != [master]:
            wrong.append(f"{vip} held by {','.join(holders) or 'nobody'}, expected {master or 'a tie'}")
    if wrong:
        return "fail", 0.0, "; ".join(wrong)
    return "pass", spec.points, "; ".join(seen)


register(
    CheckKind(
        "owners",
        judge,
        plan,
        options={"map": _holders_map},
        check=_static,
        doc="each VIP held by its elected master (the lab's priorities), or as map: says",
    )
)
