"""`capacity`: the traffic experiment (capacity-traffic) with the given load and link: no
survivor above a load bound, the receivers' loss below a bound."""

from __future__ import annotations

from typing import Any

from labctl.assignment import checker as v
from labctl.assignment.checker import Checker, Path
from labctl.assignment.kinds import CheckKind, Judgement, balancer_names, register, run_failed, verdict_of
from labctl.assignment.model import CheckSpec, Measured, ScenarioRun
from labctl.model.lab import Lab

SCENARIO = "capacity-traffic"
SETTABLE = ("down_for", "settle", "max_back")
DEFAULTS = {"traffic": "15Mbit", "link": "10Mbit", "method": "keepalived-stop", "max_load_pct": 90.0,
            "max_loss_pct": 5.0}  # fmt: skip


def _static(check: Checker, params: dict[str, Any], path: Path, lab: Lab | None) -> None:
    down, known = params.get("down"), balancer_names(lab)
    if isinstance(down, str) and known is not None and down not in known:
        check.problem((*path, "down"), f"no balancer {down!r} ({', '.join(sorted(known))})")


def _param(spec: CheckSpec, key: str) -> Any:
    return spec.params.get(key, DEFAULTS[key])


def plan(spec: CheckSpec, lab: Lab) -> list[ScenarioRun]:
    overrides = {str(k): str(val) for k, val in (spec.params.get("set") or {}).items()}
    overrides |= {key: str(_param(spec, key)) for key in ("traffic", "link", "method")}
    if spec.params.get("down"):
        overrides["down"] = str(spec.params["down"])
    return [ScenarioRun("traffic", SCENARIO, overrides)]


def judge(spec: CheckSpec, lab: Lab, measured: Measured) -> Judgement:
    summary = measured.summaries.get("traffic")
    if summary is None or summary.get("error"):
        return run_failed(summary, "traffic")
    figures = summary.get("traffic")
    load = figures.get("max_survivor_load_pct") if figures else None
    loss = figures.get("max_loss_pct") if figures else None
    max_load, max_loss = float(_param(spec, "max_load_pct")), float(_param(spec, "max_loss_pct"))
    if load is None or loss is None:
        return "inconclusive", 0.0, "no survivor load measured"
    line = f"busiest survivor {load:.0f} % of its link (max {max_load:g}), loss {loss:.1f} % (max {max_loss:g})"
    if load > max_load or loss > max_loss:
        return "fail", 0.0, line
    if verdict_of(summary) == "inconclusive":
        return "inconclusive", 0.0, line
    return "pass", spec.points, line


register(
    CheckKind(
        "capacity",
        judge,
        plan,
        options={
            "traffic": v.rate,
            "link": v.rate,
            "method": v.choice("keepalived-stop", "poweroff"),
            "down": v.text,
            "max_load_pct": v.number(0),
            "max_loss_pct": v.number(0),
            "set": v.settings(SETTABLE),
        },
        check=_static,
        doc="capacity-traffic with traffic: and link: (scaled); survivors under max_load_pct, loss under max_loss_pct",
    )
)
