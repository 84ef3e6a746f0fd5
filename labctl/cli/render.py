"""`labctl render`: every file `labctl up` will use, written to a folder."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from labctl.cli.console import make_console, plain
from labctl.cli.options import lab_option, read_lab_or_exit

console = make_console()


@click.command(name="render")
@lab_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default: .labctl/render beside the lab file).",
)
def render_cmd(lab_path: Path, out: Path | None) -> None:
    """Write the Vagrantfile and every node's files, exactly as `labctl up` will use them.

    \b
    DIR/Vagrantfile                      the VMs and the lab network
    DIR/nodes/<balancer>/keepalived.conf VRRP instances (and virtual servers)
    DIR/nodes/<balancer>/ipvsadm.rules   IPVS in ipvsadm-restore form
    DIR/nodes/<real>/99-labctl-dr.conf   arp_ignore/arp_announce for direct routing
    DIR/nodes/<node>/provision.sh        what runs on the node, idempotent

    The same lab file always gives byte-identical files (on one host: `driver: auto` is
    settled where it runs, as `up` will).
    """
    from labctl.lab.providers.libvirt import driver as lab_driver
    from labctl.lab.vms import rendercontext as runtime
    from labctl.lab.vms.render import render_lab, write_rendered

    lab, choice = lab_driver.settle(read_lab_or_exit(lab_path))  # as `up` will: `auto` picked on this host
    if choice is not None:
        console.print(choice.line, markup=False)
    from labctl.cli.guard import changing

    folder = lab_path.resolve().parent
    with changing(lab_path, lab.name, "render"):
        ctx = runtime.render_context(lab, lab_path)
        default = folder / ".labctl" / "render"
        out = out or default
        written = write_rendered(render_lab(lab, ctx), out, base=folder if out == default else None)
    console.print(f"rendered {len(written)} files into {out}", markup=False)
    if not lab.provider.uses_vagrant:
        console.print(
            f"provider {lab.provider.name}: no Vagrantfile (no VMs: each node is a network namespace of this "
            "host); `labctl up` runs these nodes' files there",
            markup=False,
        )
    table = Table(show_header=True, header_style="bold")
    table.add_column("node")
    table.add_column("role")
    table.add_column("files")
    for node in lab.nodes:
        names = sorted(p.name for p in (out / "nodes" / node.name).iterdir())
        table.add_row(plain(node.name), node.role, plain(" ".join(names)))
    console.print(table)
