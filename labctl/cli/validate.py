"""`labctl validate`: check the lab file and explain it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from labctl.cli.console import make_console
from labctl.cli.options import lab_option, read_lab_or_exit

console = make_console()


@click.command()
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
