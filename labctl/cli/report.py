"""`labctl report PATH...`: a past run's report rebuilt from its raw files, or several runs compared."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from labctl.cli.console import make_console
from labctl.cli.scenario import exit_code, print_summary

console = make_console(soft_wrap=False)


@click.command("report")
@click.argument(
    "paths", nargs=-1, required=True, metavar="PATH...", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print summary.json (the comparison with several PATHs) instead of tables."
)
@click.option(
    "--out",
    "out_dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where comparison.md and comparison.png go (several PATHs).",
)
def report(paths: tuple[Path, ...], as_json: bool, out_dir: Path) -> None:
    """Re-render a past run's summary.json, report.md and timeline.png from its raw files.

    With several PATHs (run folders, or --repeat folders holding run-<i>/), rebuild every run
    and compare them side by side: a repeat folder is one group, a run folder a group of one.
    Writes comparison.md and comparison.png into --out; exits 0 once written."""
    from labctl.cli.repeat import check_run_folder, is_run_folder
    from labctl.report.build import build

    if len(paths) == 1 and is_run_folder(paths[0]):
        summary = build(check_run_folder(paths[0]))
        print_summary(summary, paths[0], as_json)
        sys.exit(exit_code(summary))
    _compare_folders(list(paths), out_dir, as_json)


def _compare_folders(paths: list[Path], out_dir: Path, as_json: bool) -> None:
    from labctl.cli.repeat import load_groups, write_comparison
    from labctl.report import compare
    from labctl.report.build import build

    groups = load_groups(paths, build)  # NotARunFolder: `error:` and exit 2
    comparison = compare.compare(groups)
    markdown, png = write_comparison(comparison, groups, out_dir)
    if as_json:
        click.echo(json.dumps(comparison, indent=2, default=str))
        return
    console.print(compare.comparison_table(comparison))
    console.print(f"comparison: {markdown}\nplot: {png}", markup=False)
