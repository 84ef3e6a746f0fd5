"""`labctl snapshot save|restore|list|delete`: whole-lab snapshots, argument parsing and
printing only (labctl.lab.labsnapshots does the work)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from labctl.cli.console import escape, make_console, plain
from labctl.cli.options import lab_option, read_lab_or_exit
from labctl.cli.running import running_lab
from labctl.cli.up import print_up
from labctl.errors import LabctlError
from labctl.model.lab import Lab

console = make_console()
err_console = make_console(stderr=True)


@click.group("snapshot")
def snapshot() -> None:
    """Whole-lab snapshots: disk and memory of every VM, taken at one moment; restored in
    seconds. `labctl up` takes one named `ready` after its first successful checks."""


def _run(lab: Lab, lab_path: Path):
    return running_lab(lab, lab_path, brought_up=True)


@snapshot.command("save")
@click.argument("name")
@lab_option
def save_cmd(name: str, lab_path: Path) -> None:
    """Pause every VM, snapshot each (disk and memory), let them all go at once."""
    from labctl.cli.guard import changing
    from labctl.lab import labsnapshots

    lab = read_lab_or_exit(lab_path)
    run = _run(lab, lab_path)
    with changing(lab_path, lab.name, f"snapshot save {name}") as state, console.status(plain(f"saving {name}")):
        result = labsnapshots.save(run, [n.name for n in lab.nodes], name, state.journal.exists())
    for node, commands in result.stopped.items():
        console.print(f"{node}: ended what a scenario run left running: {'; '.join(commands)}", markup=False)
    for node, error in result.failed.items():
        err_console.print(f"[red]{escape(node)}[/]: {escape(error)}")
    if result.failed:
        err_console.print(f"snapshot {escape(name)} not saved: every VM or none")
        sys.exit(1)
    took = f"{result.seconds:.1f} s (the lab paused {result.paused_s:.1f} s)"
    console.print(f"snapshot {name} saved in {took}; {_clock_words(result.clocks)}", markup=False)


def _clock_words(clocks) -> str:
    stepped = [c.step_words() for c in clocks.values() if c.after_s is not None]
    failed = [f"{n} ({c.error})" for n, c in clocks.items() if c.error]
    words = f"clocks stepped: {', '.join(stepped)}" if stepped else "no clock needed a step"
    return words + (f"; clocks not read: {', '.join(failed)}" if failed else "")


def restore_and_check(lab: Lab, lab_path: Path, name: str, out: Console, verify_timeout: float = 90.0):
    """Snapshot NAME back on every VM, then the lab checked as `up` checks it (one round trip
    per node). The caller holds the lab's lock. Returns (restore result, up result, seconds)."""
    from labctl.cli.progress import RichUpProgress
    from labctl.lab import afterwake, labsnapshots
    from labctl.lab.bringup import bring_up
    from labctl.lab.host.state import LabState
    from labctl.lab.vms import vmstate

    started = time.monotonic()
    run = _run(lab, lab_path)
    journal_left = LabState.for_lab(lab_path, lab.name).journal.exists()
    # One runtime throughout: the agents' shells the clock steps find serve the checks too.
    restored = None
    try:
        with out.status(plain(f"restoring {name} on every VM")):
            restored = labsnapshots.restore(run, [n.name for n in lab.nodes], name, journal_left)
            woke = afterwake.read_vrrp_meanwhile(run, lab, restored.vrrp_recorded) if restored.ok else None
            afterwake.flush_host_neighbours(run, lab)
        for line in vmstate.restore_lines(restored.outcomes):
            out.print(line, markup=False)
        out.print(f"reverted in {restored.seconds:.1f} s; clocks being stepped while the lab is checked", markup=False)
        checked = None
        if restored.ok and woke is not None:
            checked = bring_up(lab, lab_path, RichUpProgress(out), verify_timeout=verify_timeout, run=run)
            if checked.ok:
                checked.checks += afterwake.wake_checks(run, lab, woke.result())
        out.print(_clock_words(restored.wait_for_clocks()), markup=False)
    finally:
        if restored is not None:
            restored.wait_for_clocks()  # its steps use the runtime closed next
        run.close()
    return restored, checked, round(time.monotonic() - started, 2)


@snapshot.command("restore")
@click.argument("name")
@lab_option
@click.option("--verify-timeout", default=90.0, show_default=True, help="Seconds to wait for the checks.")
def restore_cmd(name: str, lab_path: Path, verify_timeout: float) -> None:
    """Every VM back to snapshot NAME at once, clocks stepped, then the lab checked as `up`
    does. Refused while a scenario runs (it holds the lab). A VM whose revert fails is left
    running as before, and the output says which. Exit 0 when restored and checked."""
    from labctl.cli.guard import changing

    lab = read_lab_or_exit(lab_path)
    with changing(lab_path, lab.name, f"snapshot restore {name}"):
        restored, checked, seconds = restore_and_check(lab, lab_path, name, console, verify_timeout)
    if checked is not None:
        print_up(checked)
    if not restored.ok:
        console.print(f"restore of {name}: not every VM restored ({seconds:.1f} s)", markup=False)
        sys.exit(1)
    if checked is None or not checked.ok:
        console.print(f"restore of {name}: restored, checks failed ({seconds:.1f} s)", markup=False)
        sys.exit(1)
    console.print(f"restore of {name} to checks passed: {seconds:.1f} s", markup=False)


@snapshot.command("list")
@lab_option
def list_cmd(lab_path: Path) -> None:
    """Each snapshot: its age, the VMs that have it, their saved memory, the disks' size."""
    from labctl.lab import labsnapshots

    lab = read_lab_or_exit(lab_path)
    run = _run(lab, lab_path)
    rows = labsnapshots.listing(run, [n.name for n in lab.nodes])
    if not rows:
        console.print("no snapshot: `labctl snapshot save NAME`")
        return
    table = Table(header_style="bold")
    for column in ("snapshot", "age", "VMs", "memory per VM", "memory total"):
        table.add_column(column)
    for row in rows:
        sizes = list(row.memory_bytes.values())
        per_vm = f"{min(sizes) / 2**20:.0f}-{max(sizes) / 2**20:.0f} MiB" if sizes else "-"
        age = labsnapshots.age_words(row.age_s) if row.age_s is not None else "?"
        table.add_row(plain(row.name), age, plain(" ".join(row.nodes)), per_vm, f"{sum(sizes) / 2**20:.0f} MiB")
    console.print(table)
    console.print(f"the VMs' disks with every snapshot in them: {rows[0].disk_bytes / 2**20:.0f} MiB", markup=False)


@snapshot.command("delete")
@click.argument("name")
@lab_option
def delete_cmd(name: str, lab_path: Path) -> None:
    """Delete snapshot NAME from every VM."""
    from labctl.cli.guard import changing
    from labctl.lab import labsnapshots

    lab = read_lab_or_exit(lab_path)
    run = _run(lab, lab_path)
    with changing(lab_path, lab.name, f"snapshot delete {name}"):
        outcome = labsnapshots.delete(run, [n.name for n in lab.nodes], name)
    failed = {n: e for n, e in outcome.items() if e is not None}
    for node, error in failed.items():
        err_console.print(f"[red]{escape(node)}[/]: {escape(error)}")
    if failed:
        raise LabctlError(f"snapshot {name} not deleted everywhere", fix=f"`labctl snapshot delete {name}` again")
    console.print(f"snapshot {name} deleted", markup=False)


def take_ready(lab: Lab, lab_path: Path, out: Console) -> float | None:
    """After `up`'s first successful checks: snapshot `ready`, unless the lab has one already,
    says `ready_snapshot: false`, or has no sandbox. The seconds it took, or None when none was
    taken. The caller holds the lab's lock."""
    from labctl.lab import labsnapshots
    from labctl.lab.host.state import LabState
    from labctl.lab.vms import vmstate

    if not lab.ready_snapshot or lab.isolation != "netns" or lab.provider.name != "libvirt":
        return None
    run = _run(lab, lab_path)
    nodes = [n.name for n in lab.nodes]
    if all(vmstate.READY in names for names in labsnapshots.snapshots_of(run, nodes).values()):
        return None
    journal_left = LabState.for_lab(lab_path, lab.name).journal.exists()
    with out.status(plain(f"saving snapshot {vmstate.READY} (every VM paused, disk and memory)")):
        result = labsnapshots.save(run, nodes, vmstate.READY, journal_left)
    for node, error in result.failed.items():
        err_console.print(f"[yellow]snapshot {vmstate.READY} not saved[/]: {escape(node)}: {escape(error)}")
    if result.failed:
        return None
    out.print(
        f"snapshot {vmstate.READY} saved in {result.seconds:.1f} s: `labctl snapshot restore {vmstate.READY}` "
        "puts the lab back to this moment (`--no-ready-snapshot` or `ready_snapshot: false` skip it)",
        markup=False,
    )
    return result.seconds
