"""`serves`: every VIP (or the listed ones) answers HTTP from the host side, by the listed reals."""

from __future__ import annotations

from typing import Any

from labctl.assignment import checker as v
from labctl.assignment.checker import Checker, Path
from labctl.assignment.kinds import CheckKind, Judgement, known_nodes, register, run_failed, verdict_of, vip_names
from labctl.assignment.model import CheckSpec, Measured, ScenarioRun
from labctl.model.lab import Lab

SCENARIO = "serves"


def _static(check: Checker, params: dict[str, Any], path: Path, lab: Lab | None) -> None:
    known_nodes(check, params, "vips", path, vip_names(lab))
    known_nodes(check, params, "reals", path, None if lab is None else {n.name for n in lab.nodes})


def plan(spec: CheckSpec, lab: Lab) -> list[ScenarioRun]:
    return [ScenarioRun("serves", SCENARIO, {"seconds": str(spec.params.get("seconds", 5))})]


def judge(spec: CheckSpec, lab: Lab, measured: Measured) -> Judgement:
    summary = measured.summaries.get("serves")
    if summary is None or summary.get("error"):
        return run_failed(summary, "probe")
    wanted = spec.params.get("vips") or [v.name for v in lab.vips]
    reals = set(spec.params.get("reals") or [])
    by_vip = (summary.get("requests") or {}).get("by_vip") or {}
    faults: list[str] = []
    seen: list[str] = []
    for vip in lab.vips:
        if vip.name not in wanted:
            continue
        entry = by_vip.get(vip.address) or {"total": 0, "failed": 0, "reals": {}}
        answered = sorted(entry.get("reals") or {})
        ok = entry["total"] - entry["failed"]
        seen.append(f"{vip.name} {ok}/{entry['total']} by {','.join(answered) or 'nobody'}")
        if not entry["total"] or entry["failed"]:
            faults.append(f"{vip.name} failed {entry['failed']} of {entry['total']} requests")
        if reals and set(answered) != reals:
            faults.append(f"{vip.name} answered by {','.join(answered) or 'nobody'}, not {','.join(sorted(reals))}")
    if faults:
        return "fail", 0.0, "; ".join(faults)
    if verdict_of(summary) == "inconclusive":
        return "inconclusive", 0.0, "; ".join(seen)
    return "pass", spec.points, "; ".join(seen)


register(
    CheckKind(
        "serves",
        judge,
        plan,
        options={"vips": v.names, "reals": v.names, "seconds": v.number(1)},
        check=_static,
        doc="every VIP (or vips:) answers HTTP from the host side, by the reals: listed",
    )
)
