"""`labctl down [TARGET]`: halt the lab's VMs, or some of them; disks and state are kept."""

from __future__ import annotations

from pathlib import Path

import click

from labctl.cli.console import escape, make_console, plain
from labctl.cli.options import lab_option, read_lab_or_exit
from labctl.cli.running import running_lab
from labctl.model.targets import nodes_of

console = make_console()


@click.command()
@lab_option
@click.argument("target", required=False)
def down(lab_path: Path, target: str | None) -> None:
    """Halt every VM of the lab, or TARGET's only: a node, a role (role:balancer, or balancers)
    or all. Disks and state are kept; `labctl up` brings the halted VMs back.

    Each VM is shut down cleanly from inside (`systemctl poweroff` over SSH, all at once); one
    that SSH cannot reach, or that is still running after 120 s, is powered off. To pull the
    plug on a balancer instead, as in a failure, use `labctl scenario run failover`.

    \b
    Examples:
      labctl down            # the whole lab
      labctl down r1         # one real: its VIPs' traffic goes to the other
      labctl down reals
    """
    lab = read_lab_or_exit(lab_path)
    nodes = nodes_of(lab, target) if target and target != "all" else None
    run = running_lab(lab, lab_path)
    if not run.is_brought_up():
        console.print("nothing to halt: the lab has never been brought up")
        return
    from labctl.cli.guard import changing

    what = ", ".join(nodes) if nodes else "every VM"
    with changing(lab_path, lab.name, "down"):
        run.start_sandbox()
        with console.status(plain(f"shutting {what} down (all at once)")):
            forced = run.halt_all(nodes=nodes)
    if forced:
        console.print(f"[yellow]unreachable or not shut down in time, powered off:[/] {escape(', '.join(forced))}")
    console.print(f"lab {lab.name}: {what} halted" if nodes else f"lab {lab.name} halted", markup=False)
