"""The words and numbers report.md, report.html and the terminal share: how a value, a rate, an
event and a disruption read, and the moment a run's times are counted from."""

from __future__ import annotations

from typing import Any

from labctl.report import analysis

# The events listed as the run's steps, in both reports.
STEP_KINDS = ("action", "wait_until", "note", "mark", "probe_start", "capture_start", "error", "cleanup", "iteration")


def run_start(run: analysis.RunData) -> float:
    starts = [e["t"] for e in run.events if e.get("kind") == "start"]
    return starts[0] if starts else (run.info.get("started") or 0.0)


def disruption_lines(disruption: dict[str, Any]) -> list[str]:
    """One sentence per VIP that the disruption touched."""
    lines = []
    for name, r in disruption["vips"].items():
        parts = []
        if r.get("failed"):
            errors = f": {', '.join(r['errors'])}" if r.get("errors") else ""
            parts.append(f"outage {fmt(r.get('outage_s'))} s ({r['failed']} failed{errors})")
        if "no_backup" in r:
            parts.append(f"VIP did not move: {r['no_backup']}")
        elif "moved" in r:
            moved = (
                f"VIP moved to {r['new_holder']} after {fmt(r['moved_after_s'])} s"
                if r["moved"]
                else "VIP did not move"
            )
            window = "-".join(f"{x:g}" for x in r["theory_window_s"])
            verdict = "matches" if r.get("matches_theory") else "does not match"
            parts.append(
                f"{moved}; theory {fmt(r['theory_s'])} s (accepted {window} s, {r['theory_basis']}): {verdict}"
            )
        if "preempted" in r:
            back = (
                f"back on {disruption['node']} after {fmt(r['preemption_s'])} s"
                if r["preempted"]
                else f"not back on {disruption['node']}"
            )
            if disruption["action"] == "power-on":
                parts.append(
                    f"{back} counted from the power-on, boot included (its peers' "
                    f"captures show the hand-back; the VM answers SSH only later)"
                )
            else:
                parts.append(f"{back} (master-down interval {fmt(r['theory_s'])} s)")
        if parts and r.get("answered_by_after"):
            who = ", ".join(f"{k}: {v}" for k, v in sorted(r["answered_by_after"].items()))
            parts.append(f"answered by {who}")
        if parts:
            lines.append(f"{name}: " + "; ".join(parts))
    return lines or ["no VIP was disturbed"]


def event_text(event: dict[str, Any]) -> str:
    kind = event.get("kind", "")
    if kind in ("action", "cleanup"):
        text = f"{kind} `{event.get('action')}` on {event.get('node')}"
        if kind == "action":
            text += f" (took {event.get('t_end', 0) - event.get('t_start', 0):.2f} s)"
        return text
    if kind == "wait_until":
        outcome = "held" if event.get("held") else "timed out"
        return f"wait until `{event.get('condition')}`: {outcome} after {event.get('after_s')} s"
    if kind == "probe_start":
        return (
            f"probe {event.get('name')} on {event.get('node')}: "
            f"{', '.join(event.get('vips', []))} at {event.get('rate')} req/s"
        )
    if kind == "capture_start":
        return f"capture on {event.get('node')} every {event.get('interval')} s"
    if kind == "iteration":
        return f"{event.get('name')} = {event.get('node')}"
    return f"{kind}: {event.get('text') or event.get('label') or event.get('message') or ''}"


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}{unit}"
    return f"{value}{unit}"


def mbit(bps: Any) -> str:
    """Bits/s as Mbit/s with two decimals ("-" when unknown)."""
    return "-" if bps is None else f"{bps / 1e6:.2f}"
