"""`labctl init`: write a lab file, the reference lab, ready to change."""

from __future__ import annotations

from pathlib import Path

import click

from labctl.cli.console import make_console
from labctl.cli.options import host_options, isolation_of, read_lab_or_exit
from labctl.model import initlab

console = make_console()


@click.command()
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
    if not lab.provider.uses_vagrant:
        console.print(
            f"provider {lab.provider.name}: no VMs, each node a network namespace of this host running its "
            "keepalived and nginx (IPVS where the kernel has it); `labctl up` needs root",
            markup=False,
        )
    console.print("next: `labctl validate`, `labctl render`, `labctl up`")
