"""`labctl import`: a student's keepalived.conf files and IPVS rules -> lab.yaml + import-report.md."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import click

from labctl.cli.options import host_options, isolation_of, read_lab_or_exit
from labctl.lab.nodes.importcheck import check_import
from labctl.model import initlab
from labctl.model.planner import parse_rate
from labctl.submission.importer import DEFAULT_LINK, DEFAULT_TRAFFIC, import_submission
from labctl.submission.report import report_data, report_markdown

REPORT_NAME = "import-report.md"
DEFAULT_NAME = "lab"


@click.command(name="import")
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--out", "out", default=".", show_default=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default=DEFAULT_NAME, show_default=True, help="Lab name: state folder, namespace, VM prefix.")
@click.option("--instance", help="Read the configs as `keepalived -i INSTANCE` does (their @INSTANCE lines).")
@click.option("--traffic", default=str(DEFAULT_TRAFFIC), help="Incoming traffic for the load findings, e.g. 1.5Gbit.")
@click.option("--link", default=str(DEFAULT_LINK), help="Each balancer's link, e.g. 1Gbit.")
@host_options
@click.option(
    "--like",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Run the submission where this lab file runs: its name, provider, box and isolation "
    "(a class's lab: grade each student on it).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing lab.yaml.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def import_cmd(
    sources: tuple[Path, ...],
    out: Path,
    name: str,
    instance: str | None,
    traffic: str,
    link: str,
    provider: str | None,
    driver: str | None,
    box: str | None,
    isolated: bool | None,
    like: Path | None,
    force: bool,
    as_json: bool,
) -> None:
    """Make a lab of a submission: keepalived.conf files, IPVS rules, a Vagrantfile, or a text.

    SOURCE is a folder (b1.conf, keepalived.b1.conf, b1/keepalived.conf: the node is named by
    the file or folder, else b1, b2, ... in order), a keepalived.conf, IPVS rules (`ipvsadm -Ln`,
    `ipvsadm -Sn` / ipvsadm-save, a shell script of `ipvsadm -A/-a` lines), a Vagrantfile (read
    as text: node names and private addresses), or a homework-style text or Markdown where each
    config follows a prompt like `root@b1:~# cat /etc/keepalived/keepalived.conf` or sits in a
    fenced block. Sources mix freely. Nothing in a submission is run on this host.

    Last, keepalived reads each balancer's keepalived.conf (`keepalived --config-test`, in a
    network namespace of its own; it runs no script): a complaint the report does not already
    explain refuses the import, one `FILE:LINE: construct: keepalived's words` line each (exit
    2). Without keepalived installed that check is skipped, and the report says so.
    Writes OUT/lab.yaml and OUT/import-report.md: findings, blocks kept as written, scripts and
    what the lab does not reproduce, each with FILE:LINE.

    \b
    Examples:
      labctl import homework.txt -o checked        # the homework: prompts and an ipvsadm -Ln
      labctl import notes.md -o checked            # configs in fenced blocks
      labctl import submission/ -o checked         # b1.conf, b2/keepalived.conf, Vagrantfile...
      labctl import b1.conf b2.conf rules.txt      # files; rules.txt: ipvsadm -Ln, -Sn or a script
      labctl import lb1/keepalived.conf lb2/keepalived.conf Vagrantfile
      labctl import site.conf --instance high      # as `keepalived -i high` reads @high lines
      labctl import homework.txt -o checked --provider libvirt --box local   # runs on any host
      labctl import homework.txt -o class --like class/lab.yaml --force   # onto the running class lab
      labctl validate -f checked/lab.yaml && labctl up -f checked/lab.yaml
    """
    host = read_lab_or_exit(like) if like is not None else None
    lab_name = host.name if host is not None and name == DEFAULT_NAME else name
    result = import_submission(list(sources), lab_name, instance, parse_rate(traffic), parse_rate(link))
    check_import(result)
    if host is not None:
        lab = replace(result.lab, provider=host.provider, isolation=host.isolation)
    else:
        lab = initlab.on_host(result.lab, provider, driver, box, isolation_of(isolated))
    target = initlab.write_lab_file(out, lab, force)
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
