"""`labctl ssh NODE`: a shell on a node (inside the lab's namespace when isolated)."""

from __future__ import annotations

from pathlib import Path

import click

from labctl.cli.options import lab_option, read_lab_or_exit
from labctl.cli.running import running_lab
from labctl.errors import BadInput
from labctl.model.targets import nodes_of


@click.command(context_settings={"ignore_unknown_options": True})
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
    nodes = nodes_of(lab, node)  # a node; a target naming exactly one (`role:client`) will do
    if len(nodes) != 1:
        raise BadInput(f"ssh opens one node; {node} is {', '.join(nodes)}", fix=f"labctl ssh {nodes[0]}")
    node = nodes[0]
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
