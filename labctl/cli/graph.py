"""`labctl graph`: a picture of the lab (segment, nodes, VIPs, priority matrix) for slides."""

from __future__ import annotations

from pathlib import Path

import click

from labctl.cli.console import make_console
from labctl.cli.options import lab_option, read_lab_or_exit

console = make_console()


def _picture_path(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    from labctl.report.topology import image_format

    if value is not None:
        try:
            image_format(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc
    return value


@click.command("graph")
@lab_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    callback=_picture_path,
    metavar="FILE.svg|FILE.png",
    help="The picture (default: topology.svg next to the lab file); the suffix picks the format.",
)
def graph(lab_path: Path, output: Path | None) -> None:
    """Draw the lab from the lab file alone: no running lab needed.

    The L2 segment with its network, the client, the balancers and the reals with their
    addresses, each VIP under the balancer that is its master (name, address, VRID), and the
    VRRP priority matrix: the master's cell framed, the backups numbered in take-over order,
    ties marked.

    \b
    Examples:
      labctl graph                          # ./topology.svg
      labctl graph -f mylab/lab.yaml -o slides/lab.png
    """
    from labctl.report.topology import save, topology_figure

    lab = read_lab_or_exit(lab_path)
    target = output or lab_path.resolve().parent / "topology.svg"
    target.parent.mkdir(parents=True, exist_ok=True)
    save(topology_figure(lab), target)
    console.print(
        f"wrote {target}: {len(lab.nodes)} nodes, {len(lab.vips)} VIPs on {lab.network.cidr}",
        markup=False,
    )
