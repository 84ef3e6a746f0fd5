"""`labctl ssh NODE`: a shell on a node (inside the lab's namespace when isolated)."""

from __future__ import annotations

from pathlib import Path

import click

from labctl.cli.options import lab_option, read_lab_or_exit
from labctl.cli.running import resolve_targets, running_lab


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
    resolve_targets(lab, node)
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
