"""Options that several commands share, defined once, and the one reader of the lab file of
`-f`: every command that needs the lab reads it here (`read_lab_or_exit`), never ./lab.yaml
or a path of its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from labctl.cli.console import make_console
from labctl.model import labfile
from labctl.model.lab import PROVIDERS, Lab

F = TypeVar("F", bound=Callable[..., Any])

LAB_OPTION_HELP = "The lab file (default: ./lab.yaml)."


def lab_option(func: F) -> F:
    """`-f/--lab PATH`, the lab file, handed to the command as `lab_path`."""
    return click.option(
        "-f",
        "--lab",
        "lab_path",
        default="lab.yaml",
        show_default=False,
        type=click.Path(dir_okay=False, path_type=Path),
        help=LAB_OPTION_HELP,
    )(func)


def read_lab_or_exit(lab_path: Path, or_reference: bool = False) -> Lab:
    """The lab file of `-f` read, or every problem printed as `lab.yaml:LINE: key.path: reason`
    and exit 2 (printed here, not by LabctlGroup: some commands also run on their own). With
    OR_REFERENCE, a missing or invalid file gives the reference lab instead: listing and
    showing scenarios needs only lab facts (the IPVS manager, advert_int)."""
    try:
        return labfile.read_lab(lab_path)
    except labfile.LabFileError as exc:
        if or_reference:
            from labctl.model.lab import reference_lab

            return reference_lab()
        err = make_console(stderr=True)
        for problem in exc.problems:
            err.print(str(problem), markup=False)
        raise SystemExit(2) from None


def read_lab_if_valid(lab_path: Path) -> Lab | None:
    """The lab file of `-f`, or None when it is missing or invalid: for `destroy`, which a
    broken file must not stop (what to remove is in the lab's state folder)."""
    try:
        return labfile.read_lab(lab_path)
    except labfile.LabFileError:
        return None


def host_options(func: F) -> F:
    """Where a new lab file's VMs run: `init` and `import` take the same options."""
    func = click.option(
        "--isolated/--not-isolated",
        default=None,
        help="Run the lab in a network namespace of its own (default: on with --box local).",
    )(func)
    func = click.option("--box", help="Vagrant box, or 'local' for the offline box of `labctl box build`.")(func)
    func = click.option(
        "--driver",
        type=click.Choice(["auto", "kvm", "qemu"]),
        default="auto",
        show_default=True,
        help="libvirt driver; qemu emulates (no usable KVM needed); auto: kvm where a test guest runs under it.",
    )(func)
    func = click.option(
        "--provider",
        type=click.Choice(PROVIDERS),
        help="Where the nodes run (default virtualbox): a Vagrant provider, or netns (no VMs: network "
        "namespaces of this host, needs root).",
    )(func)
    return func


def isolation_of(isolated: bool | None) -> str | None:
    return None if isolated is None else ("netns" if isolated else "none")
