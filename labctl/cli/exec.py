"""`labctl exec TARGET -- COMMAND`: a command on one node or many, output grouped per node."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from labctl.cli.console import make_console
from labctl.cli.options import lab_option, read_lab_or_exit
from labctl.cli.running import running_lab
from labctl.model.targets import nodes_of

console = make_console()


def remote_command(command: tuple[str, ...]) -> list[str] | str:
    """One argument is shell text for the node's shell; several are words, quoted one by one."""
    return command[0] if len(command) == 1 else list(command)


@click.command(name="exec", context_settings={"ignore_unknown_options": True})
@lab_option
@click.option("--sudo", is_flag=True, help="Run the command as root.")
@click.argument("target")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_cmd(lab_path: Path, sudo: bool, target: str, command: tuple[str, ...]) -> None:
    """Run COMMAND on TARGET: a node, a role (role:balancer, or balancers) or all.

    Runs on every node of TARGET in parallel; output is grouped per node; the exit code is 1
    when the command failed on any node.

    \b
    Examples:
      labctl exec balancers --sudo -- ipvsadm -Ln
      labctl exec c1 -- curl -sI http://10.10.1.10/
      labctl exec c1 -- "for i in \\$(seq 12); do curl -s http://10.10.1.10/; done"

    One argument is a shell command line (as with `labctl ssh` and `vagrant ssh -c`): pipes,
    loops and `$(...)` work. Several arguments are passed as they are, each one word.
    """
    from labctl.lab.nodes.ssh import run_parallel

    lab = read_lab_or_exit(lab_path)
    nodes = nodes_of(lab, target)
    run = running_lab(lab, lab_path, brought_up=True)
    argv = remote_command(command)
    try:
        shells = run.shells(nodes, wait=30.0)
        results = run_parallel(shells, lambda n, opened: opened.get().run(argv, sudo=sudo))
    finally:
        run.close()
    from labctl.cli.execout import print_outcome

    failed = [print_outcome(console, node, results[node]) for node in nodes]
    sys.exit(1 if any(failed) else 0)
