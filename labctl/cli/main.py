"""The labctl command line: parses arguments, calls the library, prints. No logic lives here."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rich.table import Table

from labctl.cli.console import escape, make_console, plain
from labctl.cli.options import host_options, isolation_of, lab_option, read_lab_or_exit
from labctl.errors import EXIT_FAILED, LabctlError, clip
from labctl.model import initlab, labfile
from labctl.model.lab import Lab

console = make_console()
err_console = make_console(stderr=True)


VERBOSE_HINT = "run with -v for the traceback"


class LabctlGroup(click.Group):
    """The one point where errors become a message and an exit code, never a bare traceback.

    LabctlError (every error labctl raises on purpose: LabFileError, SshError, SandboxError...):
    its message and exit code. OSError (a file or program the system refused): `error:` and
    exit 1. Anything else is a bug: `error:` with a hint to run with -v, which prints the
    traceback."""

    def invoke(self, ctx: click.Context):
        verbose = bool(ctx.params.get("verbose"))
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except LabctlError as exc:
            if verbose:
                err_console.print_exception()
            problems = getattr(exc, "problems", None)
            if problems:
                for problem in problems:
                    err_console.print(clip(str(problem), 300), markup=False)
            else:
                err_console.print(f"[bold red]error:[/] {escape(clip(exc.message, 300))}")
                if exc.fix:
                    err_console.print(f"  fix: {clip(exc.fix, 300)}", markup=False)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("interrupted: run the same command again to finish, or `labctl destroy`")
            sys.exit(130)
        except RecursionError as exc:
            _unexpected(exc, verbose, "input nested too deeply")
        except OSError as exc:
            if verbose:
                err_console.print_exception()
            err_console.print(f"[bold red]error:[/] {escape(clip(_describe(exc), 300))}")
            sys.exit(EXIT_FAILED)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: no bare stack
            _unexpected(exc, verbose)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _unexpected(exc: BaseException, verbose: bool, what: str | None = None) -> None:
    if verbose:
        err_console.print_exception()
    message = what or f"{type(exc).__name__}: {_describe(exc)}"
    err_console.print(f"[bold red]error:[/] {escape(clip(message, 300))}")
    if not verbose:
        err_console.print(f"  {VERBOSE_HINT}", markup=False)
    sys.exit(EXIT_FAILED)


@click.group(cls=LabctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show what labctl does as it goes, and the traceback of an error.")
@click.version_option(package_name="labctl")
def main(verbose: bool) -> None:
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

    \b
    Exit codes: 0 ok; 1 the lab or the run failed (or its state folder is damaged); 2 bad
    input (lab file, scenario, run folder, option); `scenario run` also 3 (inconclusive). Errors are one line
    (`error: ...`, or `FILE:LINE: key.path: reason` per problem); -v adds the traceback.
    What labctl did to a lab is logged in .labctl/<lab>/logs/labctl.log.
    """
    from labctl.lab.host import signals
    from labctl.lab.host.lablog import log_to_stderr

    signals.install()  # SIGTERM and SIGHUP end a command as Ctrl-C does, cleanup included
    if verbose:
        log_to_stderr()


@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default="lab", show_default=True, help="Lab name: state folder, namespace, VM prefix.")
@host_options
@click.option("--force", is_flag=True, help="Overwrite an existing lab.yaml.")
def init(
    directory: Path,
    name: str,
    provider: str | None,
    driver: str | None,
    box: str | None,
    isolated: bool | None,
    force: bool,
) -> None:
    """Write DIRECTORY/lab.yaml: the reference lab, commented, ready to change.

    \b
    Examples:
      labctl init                       the homework's lab, VirtualBox
      labctl init mylab --provider libvirt --box local
                                        runs anywhere: no VirtualBox, offline box, KVM
                                        where a guest runs under it, else qemu (TCG)
    """
    lab = initlab.initial_lab(name, provider, driver, box, isolation_of(isolated))
    # Validated before it is written (LabFileError: exit 2), then read back from the disk.
    target = initlab.write_lab_file(directory, lab, force)
    read_lab_or_exit(target)
    console.print(
        f"wrote {target}: {len(lab.balancers)} balancers, {len(lab.reals)} reals, "
        f"{len(lab.clients)} client, {len(lab.vips)} VIPs, provider {lab.provider.name}",
        markup=False,
    )
    from labctl.lab.providers.libvirt import driver as lab_driver

    settled_here = lab_driver.preview(lab)
    if settled_here:
        console.print(settled_here, markup=False)
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
    lab = read_lab_or_exit(lab_path)
    if as_json:
        from labctl.model.describe import lab_to_dict

        click.echo(json.dumps(lab_to_dict(lab), indent=2))
        return
    from labctl.model.describe import lab_notes

    console.print(
        f"{lab_path}: valid. {len(lab.balancers)} balancers, {len(lab.reals)} reals, "
        f"{len(lab.clients)} client{'s' if len(lab.clients) != 1 else ''}, {len(lab.vips)} VIPs, "
        f"provider {lab.provider.name}, "
        f"IPVS by {lab.ipvs.manager}",
        markup=False,
    )
    for note in lab_notes(lab):
        console.print(f"note: {note}", markup=False)


@main.command(name="render")
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
    table = Table(show_header=True, header_style="bold")
    table.add_column("node")
    table.add_column("role")
    table.add_column("files")
    for node in lab.nodes:
        names = sorted(p.name for p in (out / "nodes" / node.name).iterdir())
        table.add_row(plain(node.name), node.role, plain(" ".join(names)))
    console.print(table)


@main.command()
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


def running_lab(lab: Lab, lab_path: Path, brought_up: bool = False):
    """The lab's runtime pieces once its state folder has been checked; with BROUGHT_UP, an
    error (exit 1) when the lab has never been brought up."""
    from labctl.lab.host.lablog import log_to_lab
    from labctl.lab.host.state import LabState
    from labctl.lab.host.statecheck import check_state
    from labctl.lab.running import RunningLab

    check_state(LabState.for_lab(lab_path, lab.name))
    run = RunningLab.for_lab(lab, lab_path)
    if run.state.root.is_dir():
        log_to_lab(run.state.logs_dir, run.state.folder)
    if brought_up and not run.has_vagrant_dir():
        raise LabctlError(f"lab {lab.name} has never been brought up here", fix="labctl up")
    return run


def remote_command(command: tuple[str, ...]) -> list[str] | str:
    """One argument is shell text for the node's shell; several are words, quoted one by one."""
    return command[0] if len(command) == 1 else list(command)


def resolve_targets(lab: Lab, target: str) -> list[str]:
    """A node name, a role (balancer(s), real(s), client(s)) or `all`."""
    if target == "all":
        return [n.name for n in lab.nodes]
    role = target.rstrip("s") if target.rstrip("s") in ("balancer", "real", "client") else None
    if role:
        return [n.name for n in lab.by_role(role)]
    if any(n.name == target for n in lab.nodes):
        return [target]
    raise LabctlError(
        f"no node or role {target!r}: use a node ({', '.join(n.name for n in lab.nodes)}), "
        "a role (balancers, reals, clients) or all",
        exit_code=2,
    )


@main.command()
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
        _print_up(result)
    if not result.ok:
        sys.exit(1)


def _print_up(result) -> None:
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


@main.command()
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


@main.command(name="exec", context_settings={"ignore_unknown_options": True})
@lab_option
@click.option("--sudo", is_flag=True, help="Run the command as root.")
@click.argument("target")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_cmd(lab_path: Path, sudo: bool, target: str, command: tuple[str, ...]) -> None:
    """Run COMMAND on TARGET: a node, a role (balancers, reals, clients) or all.

    Runs on every node of TARGET in parallel; output is grouped per node; the exit code is 1
    when the command failed on any node.

    \b
    Examples:
      labctl exec balancers --sudo -- ipvsadm -Ln
      labctl exec c1 -- curl -sI http://10.10.1.10/
      labctl exec c1 -- "for i in \\$(seq 12); do curl -s http://10.10.1.10/; done"

    One argument is a shell command line (as with `labctl ssh` and `vagrant ssh -c`): pipes,
    loops and `$(...)` work. Several arguments are passed as they are, each one word.
    """
    from labctl.lab.nodes.ssh import run_parallel

    lab = read_lab_or_exit(lab_path)
    nodes = resolve_targets(lab, target)
    run = running_lab(lab, lab_path, brought_up=True)
    argv = remote_command(command)
    try:
        sessions = run.sessions(nodes, wait=30.0)
        results = run_parallel(sessions, lambda n, opened: opened.get().run(argv, sudo=sudo))
    finally:
        run.close()
    from labctl.cli.execout import print_outcome

    failed = [print_outcome(console, node, results[node]) for node in nodes]
    sys.exit(1 if any(failed) else 0)


@main.command(context_settings={"ignore_unknown_options": True})
@lab_option
@click.argument("node")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def ssh(lab_path: Path, node: str, command: tuple[str, ...]) -> None:
    """Open a shell on NODE (inside the lab's namespace when isolated), or run COMMAND there.

    The host key pinned by `labctl up` is checked: a changed key is refused.

    \b
    Examples:
      labctl ssh b1
      labctl ssh b1 -- sudo journalctl -u keepalived -n 20
    """
    import os

    lab = read_lab_or_exit(lab_path)
    resolve_targets(lab, node)
    run = running_lab(lab, lab_path, brought_up=True)
    target = run.ssh_targets([node])[node]
    argv = [
        "ssh",
        "-p",
        str(target.port),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={run.state.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"HostKeyAlias={node}",
    ]
    for key in target.identity_files:
        argv += ["-i", key]
    argv.append(f"{target.user}@{target.hostname}")
    argv += list(command)
    if run.namespace:
        argv = ["ip", "netns", "exec", run.namespace, *argv]
    os.execvp(argv[0], argv)


@main.command()
@lab_option
@click.argument("target", required=False)
def down(lab_path: Path, target: str | None) -> None:
    """Halt every VM of the lab, or TARGET's only: a node, a role (balancers, reals, clients)
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
    nodes = resolve_targets(lab, target) if target and target != "all" else None
    run = running_lab(lab, lab_path)
    if not run.has_vagrant_dir():
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


@main.command()
@lab_option
@click.argument("target", required=False)
def suspend(lab_path: Path, target: str | None) -> None:
    """Save every VM's memory to disk and stop it (or TARGET's only: a node, a role or all),
    all at once: libvirt's managed save, inside the lab's sandbox. `labctl up` resumes the lab
    from there in seconds instead of booting it, steps the guests' clocks and checks it.

    \b
    Examples:
      labctl suspend         # the whole lab, before the class ends
      labctl up              # resumed, clocks stepped, checked against the plan
    """
    from labctl.lab.suspend import suspend as suspend_nodes

    lab = read_lab_or_exit(lab_path)
    nodes = resolve_targets(lab, target or "all")
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


@main.command()
@lab_option
@click.option("--name", help="The lab to destroy when its lab file is gone (see .labctl/).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def destroy(lab_path: Path, name: str | None, yes: bool) -> None:
    """Remove the lab's VMs, libvirt networks and volumes, its sandbox and its state.

    Works when the lab file has changed or is gone: what to remove is read from the lab's
    state folder (.labctl/<lab>/). Afterwards nothing of the lab remains.
    """
    from labctl.lab.host import statecheck
    from labctl.lab.host.state import LabState
    from labctl.lab.running import RunInfo, RunningLab, find_states

    folder = lab_path.resolve().parent
    states = find_states(folder)
    lab: Lab | None = None
    if lab_path.exists():
        try:
            lab = labfile.read_lab(lab_path)
        except labfile.LabFileError:
            pass  # a broken file must not keep a lab from being destroyed
    if name:
        states = [s for s in states if s.root.name == name]
    elif lab is not None:
        states = [s for s in states if s.root.name == lab.name] or states
    if not states:
        console.print("nothing to destroy: no lab state under " + str(folder / ".labctl"), markup=False)
        return
    if len(states) > 1:
        raise LabctlError(
            "several labs live here: " + ", ".join(s.root.name for s in states), fix="labctl destroy --name NAME"
        )
    state: LabState = states[0]
    try:
        data = statecheck.read_runinfo(state)
        info = RunInfo(**data) if data is not None else None
    except LabctlError:
        if lab is None or lab.name != state.root.name:
            raise
        # runinfo.json is damaged, but the lab file names this lab: it says what to remove.
        err_console.print(f"warning: {state.root / 'runinfo.json'} is damaged; using {lab_path}", markup=False)
        info = RunInfo.of(lab)
    if info is None:
        raise LabctlError(f"{state.root} has no run information", fix=f"remove {state.root} once its VMs are gone")
    if not yes and sys.stdin.isatty():
        click.confirm(f"destroy lab {info.name} and everything it made?", abort=True)
    run = RunningLab(state, info)
    from labctl.lab.host.lock import lab_lock

    with lab_lock(state, "destroy"):
        removed = run.destroy()
    console.print(f"destroyed lab {info.name}: " + "; ".join(removed), markup=False)


@main.group()
def box() -> None:
    """The offline Debian 12 box: keepalived, ipvsadm, nginx and curl baked in."""


@box.command(name="build")
@click.option("--mirror", help="Debian mirror URL (default: the host's apt sources).")
@click.option("--force", is_flag=True, help="Rebuild even when a box with the same inputs exists.")
def box_build(mirror: str | None, force: bool) -> None:
    """Build the libvirt box with mmdebstrap (about a minute), cached by its inputs.

    A second build with the same package list, suite and build script is a no-op.
    A lab uses it with `box: local` (`labctl init --provider libvirt --driver qemu --box local`).
    """
    from labctl.lab.vms import box as boxes

    started = time.monotonic()
    try:
        info = boxes.build_box(
            mirror=mirror, force=force, progress=lambda phase: console.print(f"box: {phase}", markup=False)
        )
    except boxes.BoxError as exc:
        raise LabctlError(str(exc)) from exc
    console.print(
        f"box {info.name}: {info.box_file} ({info.size / 1e6:.0f} MB) in {time.monotonic() - started:.0f} s",
        markup=False,
    )


@box.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def box_list(as_json: bool) -> None:
    """The boxes built here."""
    from labctl.lab.vms import box as boxes

    found = boxes.list_boxes()
    if as_json:
        click.echo(json.dumps([b.to_json() for b in found], indent=2))
        return
    if not found:
        console.print("no box built yet: `labctl box build`")
    for info in found:
        console.print(f"{info.name}  {info.size / 1e6:.0f} MB  {info.path}", markup=False)


def _register_scenarios() -> None:
    from labctl.cli.capture import capture
    from labctl.cli.scenario import report, scenario

    main.add_command(scenario)
    main.add_command(report)
    main.add_command(capture)
    main.add_command(__import__("labctl.cli.snapshot", fromlist=["snapshot"]).snapshot)
    main.add_command(__import__("labctl.cli.graph", fromlist=["graph"]).graph)
    main.add_command(__import__("labctl.cli.dashboard", fromlist=["dashboard"]).dashboard)
    main.add_command(__import__("labctl.cli.importcmd", fromlist=["import_cmd"]).import_cmd)
    main.add_command(__import__("labctl.cli.check", fromlist=["check"]).check)
    main.add_command(__import__("labctl.cli.grade", fromlist=["grade_cmd"]).grade_cmd)


_register_scenarios()


if __name__ == "__main__":
    main()
