"""Options that several commands share, defined once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

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
