"""`labctl destroy`: nothing of the lab left behind, even when its lab file is gone."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from labctl.cli.console import make_console
from labctl.cli.options import lab_option, read_lab_if_valid
from labctl.errors import LabctlError

console = make_console()
err_console = make_console(stderr=True)


@click.command()
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
    lab = read_lab_if_valid(lab_path)  # a broken file must not keep a lab from being destroyed
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
