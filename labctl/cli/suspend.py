"""`labctl suspend [TARGET]`: every VM's memory saved to disk and the VM stopped; `up` resumes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from labctl.cli.console import escape, make_console, plain
from labctl.cli.options import lab_option, read_lab_or_exit
from labctl.cli.running import running_lab
from labctl.model.targets import nodes_of

console = make_console()
err_console = make_console(stderr=True)


@click.command()
@lab_option
@click.argument("target", required=False)
def suspend(lab_path: Path, target: str | None) -> None:
    """Save every VM's memory to disk and stop it (or TARGET's only: a node, a role
    (role:balancer, or balancers) or all), all at once: libvirt's managed save, inside the
    lab's sandbox. `labctl up` resumes the lab from there in seconds instead of booting it,
    steps the guests' clocks and checks it.

    \b
    Examples:
      labctl suspend         # the whole lab, before the class ends
      labctl up              # resumed, clocks stepped, checked against the plan
    """
    from labctl.lab.suspend import suspend as suspend_nodes

    lab = read_lab_or_exit(lab_path)
    nodes = nodes_of(lab, target or "all")
    run = running_lab(lab, lab_path, brought_up=True)
    from labctl.cli.guard import changing

    saving = console.status(plain(f"saving the memory of {', '.join(nodes)} (all at once)"))
    with changing(lab_path, lab.name, "suspend"), saving:
        result = suspend_nodes(run, nodes)
    for node, state in result.skipped.items():
        console.print(f"{node}: not running ({state}), left as it is", markup=False)
    for node, error in result.failed.items():
        err_console.print(f"[red]{escape(node)}: not suspended[/]: {escape(error)}")
    if result.suspended:
        console.print(
            f"lab {lab.name}: suspended {', '.join(result.suspended)} in {result.seconds:.1f} s; `labctl up` resumes",
            markup=False,
        )
    if result.failed:
        sys.exit(1)
