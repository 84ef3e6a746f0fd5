"""`labctl up`: bring the lab up, provision and verify it; `print_up` shows the result (also
after `labctl snapshot restore`)."""

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
err_console = make_console(stderr=True)


@click.command()
@lab_option
@click.option("--json", "as_json", is_flag=True, help="Print timings, changes and checks as JSON.")
@click.option(
    "--verify-timeout", default=90.0, show_default=True, help="Seconds to wait for VRRP and health checks to settle."
)
@click.option(
    "--no-ready-snapshot",
    "no_ready",
    is_flag=True,
    help="Do not save the `ready` snapshot after the first successful checks (lab file: ready_snapshot: false).",
)
def up(lab_path: Path, as_json: bool, verify_timeout: float, no_ready: bool) -> None:
    """Bring the lab up: VMs, provisioning over SSH, then verification.

    \b
    1. the box (`--box local`: built once, cached) and, for an isolated lab, its sandbox:
       a network namespace with a private libvirtd
    2. `labctl render` into .labctl/<lab>/render, then `vagrant up` (Vagrant's output goes
       to .labctl/<lab>/logs/vagrant.log; the terminal shows each node's phase)
    3. every node provisioned in parallel over SSH: keepalived, IPVS, DR sysctls, nginx
    4. checks: each VIP held by its planned master alone, every IPVS table as planned,
       every VIP answering HTTP 200 from the client with both reals seen

    Idempotent: on a healthy lab a second `labctl up` changes nothing and says so per node.
    After an interruption it finishes the job: an `up` killed halfway runs `vagrant up` again,
    and what a scenario run killed outright left changed (its journal) is put back.
    """
    from labctl.cli.progress import RichUpProgress
    from labctl.lab.bringup import bring_up

    lab = read_lab_or_exit(lab_path)
    running_lab(lab, lab_path)  # the state folder checked before anything starts
    from labctl.cli.guard import changing

    with changing(lab_path, lab.name, "up", cancel_workers=True) as state:
        progress = RichUpProgress(err_console if as_json else console)
        # A scenario run killed outright left changes behind (a balancer powered off, a shaped
        # link, iperf3's IPVS services): `up` puts them back, as `scenario restore` would,
        # before the checks, which those changes would fail (and wait out their timeout for).
        journal_left = state.journal.exists()
        result = bring_up(lab, lab_path, progress, verify_timeout=verify_timeout, run_checks=not journal_left)
        if journal_left and not result.failures:
            from labctl.cli.scenario import replay_journal

            err_console.print("an earlier scenario run ended without putting the lab back: restoring it")
            if replay_journal(lab_path, console=err_console if as_json else console):
                # The checks, on the lab put back: a second up (one round trip per node).
                checked = bring_up(lab, lab_path, progress, verify_timeout=verify_timeout)
                result.checks = checked.checks
                result.failures.update(checked.failures)
                result.reports.update({n: r for n, r in checked.reports.items() if r.changed})
                result.timings["checks_after_restore"] = checked.timings.get("total", 0.0)
            else:
                result.failures["scenario journal"] = f"not every change was put back: see {state.journal}"
        if result.ok and not no_ready:
            from labctl.cli.snapshot import take_ready

            took = take_ready(lab, lab_path, err_console if as_json else console)
            if took is not None:
                result.timings["ready_snapshot"] = took
    if state.journal.exists() and result.failures:
        err_console.print("note: a scenario run left changes behind: `labctl scenario restore` puts them back")
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        print_up(result)
    if not result.ok:
        sys.exit(1)


def print_up(result) -> None:
    table = Table(title="nodes", header_style="bold")
    table.add_column("node")
    table.add_column("provisioning")
    table.add_column("seconds", justify="right")
    for name, report in result.reports.items():
        table.add_row(plain(name), plain(report.summary()), f"{report.seconds:.1f}")
    for name, failure in result.failures.items():
        table.add_row(plain(name), f"[red]failed[/]: {escape(str(failure))}", "")
    console.print(table)
    if result.checks:
        checks = Table(title="checks", header_style="bold")
        checks.add_column("check")
        checks.add_column("node")
        checks.add_column("result")
        for check in result.checks:
            mark = "[green]ok[/]" if check.ok else "[red]FAILED[/]"
            checks.add_row(plain(check.name), plain(check.node), f"{mark} {escape(check.detail)}")
        console.print(checks)
    spans = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    console.print(f"timings: {spans}", markup=False)
    if result.ok:
        console.print("[bold green]ready[/]: try `labctl status` or `labctl scenario run failover`")
    elif result.failures:
        console.print("[red]some nodes failed[/]: fix the cause and run `labctl up` again; the others are done")
    else:
        console.print("[red]the lab is up but a check failed[/] (see above)")
