"""`labctl status`: each node's VM state and VRRP states, each VIP's holder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.table import Table

from labctl.cli.console import escape, make_console, plain
from labctl.cli.options import lab_option, read_lab_or_exit
from labctl.cli.running import running_lab

console = make_console()


@click.command()
@lab_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(lab_path: Path, as_json: bool) -> None:
    """Each node's VM state, role, address, VIPs held and VRRP states; each VIP's holder.

    Works on a half-broken lab: what cannot be read is reported, the rest is shown.
    Exit code 0 when every node runs and every VIP has exactly one holder, 1 otherwise.
    """
    from labctl.lab.status import lab_status

    lab = read_lab_or_exit(lab_path)
    run = running_lab(lab, lab_path)
    try:
        st = lab_status(run, lab)
    finally:
        run.close()
    if as_json:
        click.echo(json.dumps(st.to_dict(), indent=2))
    else:
        table = Table(title=plain(f"lab {lab.name}"), header_style="bold")
        for col in ("node", "role", "address", "vm", "VIPs held", "VRRP"):
            table.add_column(col)
        for name, entry in st.nodes.items():
            vrrp = " ".join(f"{k}={v}" for k, v in sorted(entry.get("vrrp", {}).items()))
            held = " ".join(entry.get("vips_held", [])) if entry["role"] == "balancer" else ""
            cells = (name, entry["role"], entry["address"], entry["vm"], held, vrrp or entry.get("error", ""))
            table.add_row(*map(plain, cells))
        console.print(table)
        vips = Table(title="VIPs", header_style="bold")
        for col in ("VIP", "address", "holder", "planned master"):
            vips.add_column(col)
        for name, entry in st.vips.items():
            holders = plain(", ".join(entry["holders"])) if entry["holders"] else plain("none", "red")
            vips.add_row(plain(name), plain(entry["address"]), holders, plain(entry["planned_master"]))
        console.print(vips)
        for problem in st.problems:
            console.print(f"[yellow]problem[/]: {escape(str(problem))}")
    if st.problems:
        sys.exit(1)
