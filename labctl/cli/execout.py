"""`labctl exec`'s output: one node's heading, then what the command printed, as it printed it."""

from __future__ import annotations

from typing import Protocol

import click
from rich.console import Console

from labctl.cli.console import escape


class Outcome(Protocol):
    rc: int
    stdout: str
    stderr: str


def print_outcome(console: Console, node: str, outcome: Outcome | BaseException) -> bool:
    """Print NODE's result; True when the command failed there. The node's output goes out
    through click untouched (no markup, no emoji, control characters kept for pipes)."""
    if isinstance(outcome, BaseException):
        first = (str(outcome).splitlines() or [type(outcome).__name__])[0]
        console.print(f"[bold]── {escape(node)}[/] [red]error[/]: {escape(first)}")
        return True
    mark = "" if outcome.rc == 0 else f" [red](exit {outcome.rc})[/]"
    console.print(f"[bold]── {escape(node)}[/]{mark}")
    if outcome.stdout:
        click.echo(outcome.stdout.rstrip("\n"))
    if outcome.stderr:
        click.echo(outcome.stderr.rstrip("\n"), err=True)
    return outcome.rc != 0
