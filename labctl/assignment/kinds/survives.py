"""`survives`: each balancer (or the listed ones) fails in turn (the failover scenario: its
keepalived stopped by default, or powered off) and every VIP answers again within a bound.
Judged by the report's verdict from packets, fidelity included: inconclusive stays inconclusive."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labctl.assignment import checker as v
from labctl.assignment.checker import Checker, Path
from labctl.assignment.kinds import (
    CheckKind,
    Judgement,
    balancer_names,
    combine,
    known_nodes,
    register,
    verdict_of,
)
from labctl.assignment.model import CheckSpec, Measured, ScenarioRun, Status
from labctl.model.lab import Lab
from labctl.observe.summary import RunSummary

SCENARIO = "failover"
# The failover scenario's timing knobs a check may shorten or lengthen.
SETTABLE = ("rate", "timeout", "interval", "settle", "down_for", "after", "max_duplicate", "max_preemption")
DEFAULT_MAX_OUTAGE = 6.0


def _static(check: Checker, params: dict[str, Any], path: Path, lab: Lab | None) -> None:
    known_nodes(check, params, "balancers", path, balancer_names(lab))


def victims(spec: CheckSpec, lab: Lab) -> dict[str, str | None]:
    """Each balancer to fail -> the VRRP instance it is master of (None: it masters none)."""
    chosen = spec.params.get("balancers") or [b.name for b in lab.balancers]
    return {node: next((vip.name for vip in lab.vips if lab.elected_master(vip) == node), None) for node in chosen}


def plan(spec: CheckSpec, lab: Lab) -> list[ScenarioRun]:
    base = {str(k): str(val) for k, val in (spec.params.get("set") or {}).items()}
    base["method"] = str(spec.params.get("method", "keepalived-stop"))
    base["max_outage"] = str(spec.params.get("max_outage", DEFAULT_MAX_OUTAGE))
    return [
        ScenarioRun(f"down-{node}", SCENARIO, {**base, "vip": vip}) for node, vip in victims(spec, lab).items() if vip
    ]


def judge(spec: CheckSpec, lab: Lab, measured: Measured) -> Judgement:
    bound = float(spec.params.get("max_outage", DEFAULT_MAX_OUTAGE))
    statuses: list[Status] = []
    lines: list[str] = []
    for node, vip in victims(spec, lab).items():
        if vip is None:
            lines.append(f"{node}: masters no VIP, nothing moves")
            continue
        summary = measured.summaries.get(f"down-{node}")
        if summary is None:
            statuses.append("fail")
            lines.append(f"{node}: not run")
            continue
        status = verdict_of(summary)
        late = [
            f"{name} {outage} s"
            for name, figures in (summary.get("vips") or {}).items()
            if isinstance(outage := figures.get("outage_s"), int | float) and outage > bound
        ]
        if status == "pass" and late:
            status = "fail"  # a VIP the victim also held came back too late
        statuses.append(status)
        lines.append(f"{node}: {status} {_figures(summary, vip, late)}")
    overall = combine(statuses)
    return overall, spec.points if overall == "pass" else 0.0, "; ".join(lines)


def _figures(summary: RunSummary, vip: str, late: list[str]) -> str:
    if summary.get("error"):
        return f"({summary['error']})"
    figures: Mapping[str, Any] = (summary.get("vips") or {}).get(vip) or {}
    parts = [f"{vip} to {figures.get('new_holder') or 'nobody'}"]
    if figures.get("moved_after_s") is not None:
        parts.append(f"moved {figures['moved_after_s']} s")
    if figures.get("outage_s") is not None:
        parts.append(f"outage {figures['outage_s']} s")
    if late:
        parts.append(f"late: {', '.join(late)}")
    reasons = (summary.get("verdict") or {}).get("reasons") or []
    if reasons and verdict_of(summary) != "pass":
        parts.append(str(reasons[0]))
    return "(" + ", ".join(parts) + ")"


register(
    CheckKind(
        "survives",
        judge,
        plan,
        options={
            "balancers": v.names,
            "method": v.choice("keepalived-stop", "poweroff"),
            "max_outage": v.number(0.1),
            "set": v.settings(SETTABLE),
        },
        check=_static,
        doc="each balancer (or balancers:) fails in turn; every VIP answers again within max_outage s",
    )
)
