"""The labctl command line: parses arguments, calls the library, prints. No logic lives here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from labctl import initlab, labfile
from labctl.errors import LabctlError
from labctl.lab import Lab

console = Console()
err_console = Console(stderr=True)

LAB_OPTION_HELP = "The lab file (default: ./lab.yaml)."


def lab_option(func):
    return click.option("-f", "--lab", "lab_path", default="lab.yaml", show_default=False,
                        type=click.Path(dir_okay=False, path_type=Path), help=LAB_OPTION_HELP)(func)


def load_lab(path: Path) -> Lab:
    """Read and validate the lab file; on problems print one line each and exit 2."""
    try:
        return labfile.read_lab(path)
    except labfile.LabFileError as exc:
        for problem in exc.problems:
            err_console.print(str(problem), markup=False, highlight=False)
        sys.exit(2)


class LabctlGroup(click.Group):
    """Turns LabctlError into a one-line message and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LabctlError as exc:
            err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
            if exc.fix:
                err_console.print(f"  fix: {exc.fix}", highlight=False, markup=False)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("interrupted: run the same command again to finish, or `labctl destroy`")
            sys.exit(130)


@click.group(cls=LabctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="labctl")
def main() -> None:
    """Build, break and explain a highly available web front end.

    Three balancers run keepalived (VRRP) and IPVS in direct-routing mode in front of two nginx
    real servers, with a client for probes, all on one private network: the lab of homework
    3.8 "Computer networks", in one command.

    \b
    A 30-second tour:
      labctl init                   write ./lab.yaml (the reference lab)
      labctl plan --traffic 1.5Gbit --link 1Gbit   how many VIPs survive a lost balancer?
      labctl render                 see every file that will run
      labctl up                     VMs up, provisioned, verified
      labctl scenario run failover  kill a balancer, measure the outage
      labctl destroy                nothing left behind
    """


@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default="lab", show_default=True, help="Lab name: state folder, namespace, VM prefix.")
@click.option("--provider", type=click.Choice(["virtualbox", "libvirt"]), help="Vagrant provider (default virtualbox).")
@click.option("--driver", type=click.Choice(["kvm", "qemu"]), help="libvirt driver; qemu emulates (no usable KVM needed).")
@click.option("--box", help="Vagrant box, or 'local' for the offline box of `labctl box build`.")
@click.option("--isolated/--not-isolated", default=None,
              help="Run the lab in a network namespace of its own (default: on with --box local).")
@click.option("--force", is_flag=True, help="Overwrite an existing lab.yaml.")
def init(directory: Path, name: str, provider: str | None, driver: str | None, box: str | None,
         isolated: bool | None, force: bool) -> None:
    """Write DIRECTORY/lab.yaml: the reference lab, commented, ready to change.

    \b
    Examples:
      labctl init                       the homework's lab, VirtualBox
      labctl init mylab --provider libvirt --driver qemu --box local
                                        runs anywhere: no VirtualBox, no KVM, offline box
    """
    isolation = None if isolated is None else ("netns" if isolated else "none")
    try:
        lab = initlab.initial_lab(name, provider, driver, box, isolation)
        target = initlab.write_lab_file(directory, lab, force)
    except initlab.InitError as exc:
        raise LabctlError(str(exc), exit_code=1) from exc
    # What we write must read back: the file and the validator never disagree.
    load_lab(target)
    console.print(f"wrote {target}: {len(lab.balancers)} balancers, {len(lab.reals)} reals, "
                  f"{len(lab.clients)} client, {len(lab.vips)} VIPs, provider {lab.provider.name}")
    console.print("next: `labctl validate`, `labctl render`, `labctl up`")


@main.command()
@lab_option
@click.option("--json", "as_json", is_flag=True, help="Print the validated lab as JSON.")
def validate(lab_path: Path, as_json: bool) -> None:
    """Check the lab file: exit 0, or exit 2 with `FILE:LINE: key.path: reason` per problem.

    Every other command validates the file first; this one only checks and explains.

    \b
    Example:
      labctl validate -f mylab/lab.yaml
      mylab/lab.yaml:23: reals.r2: duplicate address 10.10.1.11: reals.r1 has it already
    """
    lab = load_lab(lab_path)
    if as_json:
        from labctl.describe import lab_to_dict

        click.echo(json.dumps(lab_to_dict(lab), indent=2))
        return
    from labctl.describe import tie_notes

    console.print(f"{lab_path}: valid. {len(lab.balancers)} balancers, {len(lab.reals)} reals, "
                  f"{len(lab.clients)} client{'s' if len(lab.clients) != 1 else ''}, {len(lab.vips)} VIPs, provider {lab.provider.name}, "
                  f"IPVS by {lab.ipvs.manager}", highlight=False)
    for note in tie_notes(lab):
        console.print(f"note: {note}", highlight=False)


@main.command(name="render")
@lab_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: .labctl/render beside the lab file).")
def render_cmd(lab_path: Path, out: Path | None) -> None:
    """Write the Vagrantfile and every node's files, exactly as `labctl up` will use them.

    \b
    DIR/Vagrantfile                      the VMs and the lab network
    DIR/nodes/<balancer>/keepalived.conf VRRP instances (and virtual servers)
    DIR/nodes/<balancer>/ipvsadm.rules   IPVS in ipvsadm-restore form
    DIR/nodes/<real>/99-labctl-dr.conf   arp_ignore/arp_announce for direct routing
    DIR/nodes/<node>/provision.sh        what runs on the node, idempotent

    The same lab file always gives byte-identical files.
    """
    from labctl import runtime
    from labctl.render import render_lab, write_rendered

    lab = load_lab(lab_path)
    ctx = runtime.render_context(lab, lab_path)
    out = out or lab_path.resolve().parent / ".labctl" / "render"
    written = write_rendered(render_lab(lab, ctx), out)
    console.print(f"rendered {len(written)} files into {out}", highlight=False)
    table = Table(show_header=True, header_style="bold")
    table.add_column("node")
    table.add_column("role")
    table.add_column("files")
    for node in lab.nodes:
        names = sorted(p.name for p in (out / "nodes" / node.name).iterdir())
        table.add_row(node.name, node.role, " ".join(names))
    console.print(table)


@main.command()
@click.option("--balancers", "balancer_count", type=int,
              help="How many balancers (default: the lab file's, else 3).")
@click.option("--traffic", required=True, help="Incoming traffic, e.g. 1.5Gbit, 800Mbit.")
@click.option("--link", required=True, help="Each balancer's link, e.g. 1Gbit.")
@click.option("--tolerate", default=1, show_default=True, help="Balancer failures to survive.")
@click.option("--headroom", default=0.0, show_default=True,
              help="Percent of the link kept free after a failure.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON ({\"vips\": N, ...}).")
@click.option("--write", is_flag=True, help="Put the VIPs and the priority matrix into the lab file.")
@lab_option
def plan(balancer_count: int | None, traffic: str, link: str, tolerate: int, headroom: float,
         as_json: bool, write: bool, lab_path: Path) -> None:
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
    from labctl import planwrite
    from labctl.plan import PlanError, plan_capacity
    from labctl.views import plan_candidates_table, plan_matrix_table

    lab = load_lab(lab_path) if (write or (balancer_count is None and lab_path.exists())) else None
    names: list[str] | int = [b.name for b in lab.balancers] if lab else 3
    if balancer_count is not None:
        if lab and write and balancer_count != len(lab.balancers):
            raise LabctlError(f"--balancers {balancer_count} disagrees with the {len(lab.balancers)} "
                              f"balancers of {lab_path}", fix="drop --balancers, or edit the lab file")
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
        console.print(f"[bold]Answer: {result.vips} VIPs.[/] {result.explanation}", highlight=False)
    if write and lab:
        planwrite.write_plan(lab_path, lab, result)
        if not as_json:
            console.print(f"wrote {result.vips} VIPs and their priorities into {lab_path}")


if __name__ == "__main__":
    main()
