"""`labctl plan`: how many VIPs, and which priorities, so that losing a balancer degrades nothing."""

from __future__ import annotations

import json
from pathlib import Path

import click

from labctl.cli.console import escape, make_console
from labctl.cli.options import lab_option, read_lab_or_exit
from labctl.errors import LabctlError

console = make_console()


@click.command()
@click.option("--balancers", "balancer_count", type=int, help="How many balancers (default: the lab file's, else 3).")
@click.option("--traffic", required=True, help="Incoming traffic, e.g. 1.5Gbit, 800Mbit.")
@click.option("--link", required=True, help="Each balancer's link, e.g. 1Gbit.")
@click.option("--tolerate", default=1, show_default=True, help="Balancer failures to survive.")
@click.option("--headroom", default=0.0, show_default=True, help="Percent of the link kept free after a failure.")
@click.option("--json", "as_json", is_flag=True, help='Print the plan as JSON ({"vips": N, ...}).')
@click.option("--write", is_flag=True, help="Put the VIPs and the priority matrix into the lab file.")
@lab_option
def plan(
    balancer_count: int | None,
    traffic: str,
    link: str,
    tolerate: int,
    headroom: float,
    as_json: bool,
    write: bool,
    lab_path: Path,
) -> None:
    """How many VIPs, and which priorities, so that losing a balancer degrades nothing?

    Each VIP carries an equal share of the traffic; when a balancer fails, each of its VIPs
    moves to its highest-priority survivor. labctl tries every VIP count from the number of
    balancers up and picks the smallest that (a) keeps every survivor strictly under its link
    (minus --headroom) after any tolerated failure and (b) spreads the load evenly before and
    after it.

    \b
    Example (homework 3.8, question 3):
      labctl plan --balancers 3 --traffic 1.5Gbit --link 1Gbit
      -> 6 VIPs: 3 would leave a survivor at 1.0 Gbit/s, 100 % of its link
    """
    from labctl.cli.views import plan_candidates_table, plan_matrix_table
    from labctl.model import planwrite
    from labctl.model.planner import PlanError, plan_capacity

    lab = read_lab_or_exit(lab_path) if (write or (balancer_count is None and lab_path.exists())) else None
    names: list[str] | int = [b.name for b in lab.balancers] if lab else 3
    if balancer_count is not None:
        if lab and write and balancer_count != len(lab.balancers):
            raise LabctlError(
                f"--balancers {balancer_count} disagrees with the {len(lab.balancers)} balancers of {lab_path}",
                fix="drop --balancers, or edit the lab file",
            )
        names = balancer_count if not lab else names
    try:
        result = plan_capacity(names, traffic, link, tolerate=tolerate, headroom_pct=headroom)
    except PlanError as exc:
        raise LabctlError(str(exc), exit_code=2) from exc
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        console.print(plan_candidates_table(result))
        console.print(plan_matrix_table(result))
        console.print(f"[bold]Answer: {result.vips} VIPs.[/] {escape(result.explanation)}")
    if write and lab:
        planwrite.write_plan(lab_path, lab, result)
        if not as_json:
            console.print(f"wrote {result.vips} VIPs and their priorities into {lab_path}", markup=False)
