"""`labctl box build|list`: the offline Debian 12 box."""

from __future__ import annotations

import json
import time

import click

from labctl.cli.console import make_console
from labctl.errors import LabctlError

console = make_console()


@click.group()
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
