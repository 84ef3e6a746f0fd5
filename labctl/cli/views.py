"""Rich tables for the terminal. Plain data in, renderables out; nothing here decides anything."""

from __future__ import annotations

from rich.table import Table

from labctl.model.planner import PlanResult, format_rate


def plan_candidates_table(result: PlanResult) -> Table:
    table = Table(title="VIP counts tried", header_style="bold")
    table.add_column("VIPs", justify="right")
    table.add_column("normal load per balancer")
    table.add_column("worst after a tolerated failure")
    table.add_column("% of link", justify="right")
    table.add_column("verdict")
    for cand in result.candidates:
        normal = " / ".join(format_rate(cand.normal_loads[b]) for b in result.balancers)
        failed = ", ".join(cand.worst_failure) or "none"
        worst = f"{cand.worst_balancer} {format_rate(cand.worst_load_bps)} ({failed} down)"
        verdict = (
            "[green]ok[/]"
            if cand.ok
            else "[red]no[/]: "
            + ", ".join(
                word for word, bad in (("at or over the link", not cand.fits), ("uneven", not cand.balanced)) if bad
            )
        )
        table.add_row(str(cand.vips), normal, worst, f"{cand.worst_pct_of_link:.0f} %", verdict)
    return table


def plan_matrix_table(result: PlanResult) -> Table:
    table = Table(title=f"Priority matrix for {result.vips} VIPs", header_style="bold")
    table.add_column("VIP")
    table.add_column("master")
    table.add_column("backups, in failover order")
    for vip in result.matrix:
        backups = ", ".join(f"{b} ({vip.priorities[b]})" for b in vip.order[1:])
        table.add_row(f"VI_{vip.index}", f"{vip.master} ({vip.priorities[vip.master]})", backups)
    return table
