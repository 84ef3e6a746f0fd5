"""`labctl import`: a student's keepalived.conf files and IPVS rules -> lab.yaml + import-report.md."""

from __future__ import annotations

import json
from pathlib import Path

import click

from labctl.model import initlab
from labctl.model.planner import parse_rate
from labctl.submission.importer import DEFAULT_LINK, DEFAULT_TRAFFIC, import_submission
from labctl.submission.report import report_data, report_markdown

REPORT_NAME = "import-report.md"


@click.command(name="import")
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--out", "out", default=".", show_default=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default="lab", show_default=True, help="Lab name: state folder, namespace, VM prefix.")
@click.option("--instance", help="Read the configs as `keepalived -i INSTANCE` does (their @INSTANCE lines).")
@click.option("--traffic", default=str(DEFAULT_TRAFFIC), help="Incoming traffic for the load findings, e.g. 1.5Gbit.")
@click.option("--link", default=str(DEFAULT_LINK), help="Each balancer's link, e.g. 1Gbit.")
@click.option("--force", is_flag=True, help="Overwrite an existing lab.yaml.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def import_cmd(
    sources: tuple[Path, ...],
    out: Path,
    name: str,
    instance: str | None,
    traffic: str,
    link: str,
    force: bool,
    as_json: bool,
) -> None:
    """Make a lab of a submission: keepalived.conf files, IPVS rules, a Vagrantfile, or a text.

    SOURCE is a folder (b1.conf, keepalived.b1.conf, b1/keepalived.conf), a keepalived.conf,
    IPVS rules (`ipvsadm -Ln`, `ipvsadm -Sn`, a script of ipvsadm lines), a Vagrantfile (read as
    text), or a homework-style text where each config follows a prompt like
    `root@b1:~# cat /etc/keepalived/keepalived.conf`. Nothing in a submission is run.
    Writes OUT/lab.yaml and OUT/import-report.md: the findings, each with FILE:LINE.

    \b
    Example:
      labctl import homework.txt -o checked && labctl validate -f checked/lab.yaml
    """
    result = import_submission(list(sources), name, instance, parse_rate(traffic), parse_rate(link))
    target = initlab.write_lab_file(out, result.lab, force)
    (out / REPORT_NAME).write_text(report_markdown(result))
    if as_json:
        click.echo(json.dumps(report_data(result), indent=2))
        return
    click.echo(
        f"wrote {target} and {out / REPORT_NAME}: {len(result.lab.balancers)} balancers, {len(result.lab.vips)} VIPs, "
        f"{len(result.findings)} findings, {len(result.carried)} blocks kept as written"
    )
    for line in report_data(result)["findings"]:
        click.echo(f"finding: {line}")
