"""`labctl check`: an assignment's checks on the running lab, as a table, JSON or JUnit XML."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click
from rich.table import Table

from labctl.assignment.checker import AssignmentError
from labctl.assignment.loader import read_assignment
from labctl.assignment.model import Assignment, Outcome
from labctl.assignment.scoring import BAD_ASSIGNMENT, exit_code, overall, total
from labctl.cli.console import escape, make_console, plain
from labctl.cli.options import lab_option, read_lab_or_exit
from labctl.lab.runtime import LabAccess
from labctl.model.lab import Lab

console = make_console(soft_wrap=False)
err_console = make_console(stderr=True)
STYLE = {"pass": "green", "fail": "red", "inconclusive": "yellow"}


def load_assignment_or_exit(path: Path, lab: Lab | None) -> Assignment:
    """The assignment, or every problem as FILE:LINE: key.path: reason and exit 2."""
    try:
        return read_assignment(path, lab)
    except AssignmentError as exc:
        for problem in exc.problems:
            err_console.print(str(problem), markup=False)
        sys.exit(BAD_ASSIGNMENT)


@click.command("check")
@lab_option
@click.option(
    "--assignment", "assignment_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="The assignment file (title, checks with points).",
)  # fmt: skip
@click.option(
    "--submission", "submission", multiple=True, type=click.Path(exists=True, path_type=Path),
    help="The submission (folder or files) for findings and answer checks; imported as `labctl import` does.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
@click.option("--junit", "junit", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML here.")
def check(
    lab_path: Path, assignment_path: Path, submission: tuple[Path, ...], as_json: bool, junit: Path | None
) -> None:
    """Run an assignment's checks on the running lab: serves, owners, survives (failovers),
    capacity (the traffic experiment), findings and answer (from --submission).

    Each check that measures writes its scenario runs to results/check-<timestamp>/<check>/
    (report.html, capture.pcap). Exit 0 when every check passed, 1 when one failed, 3 when
    only inconclusive ones are left (the host too loaded to judge timing), 2 for a bad
    assignment file (every problem as FILE:LINE: key: reason)."""
    lab = read_lab_or_exit(lab_path)
    assignment = load_assignment_or_exit(assignment_path, lab)
    submitted = None
    if submission:
        from labctl.grading.submitted import read_submission

        submitted = read_submission(list(submission), lab.name)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = lab_path.resolve().parent / "results" / f"check-{stamp}"
    from labctl.lab.access import open_lab
    from labctl.lab.host.lock import lab_lock
    from labctl.lab.host.state import LabState

    with lab_lock(LabState.for_lab(lab_path, lab.name), "check"), open_lab(lab_path) as access:
        code = check_and_report(access, lab, assignment, out, submitted, as_json, junit)
    sys.exit(code)


def check_and_report(
    access: LabAccess,
    lab: Lab,
    assignment: Assignment,
    out: Path,
    submitted: object | None = None,
    as_json: bool = False,
    junit: Path | None = None,
) -> int:
    """Run, print, write JUnit; the exit code. The command's body, for any LabAccess."""
    from labctl.grading.junit import write_junit
    from labctl.grading.runner import run_checks
    from labctl.grading.submitted import Submitted

    status = err_console if as_json else console
    outcomes = run_checks(
        access,
        lab,
        assignment,
        out,
        submitted if isinstance(submitted, Submitted) else None,
        on_check=lambda spec: status.print(f"checking {spec.name} ({spec.kind})...", markup=False),
    )
    if junit is not None:
        write_junit(junit, assignment, outcomes)
    if as_json:
        click.echo(json.dumps(outcomes_data(assignment, outcomes, out), indent=2))
    else:
        console.print(outcomes_table(assignment, outcomes))
        verdict = overall(outcomes)
        console.print(
            f"[{STYLE[verdict]}]{verdict.upper()}[/]  {total(outcomes):g}/{assignment.max_points:g} points  "
            f"results: {escape(str(out))}"
        )
    return exit_code(outcomes)


def outcomes_data(assignment: Assignment, outcomes: list[Outcome], out: Path) -> dict[str, object]:
    return {
        "assignment": assignment.title,
        "verdict": overall(outcomes),
        "points": total(outcomes),
        "max_points": assignment.max_points,
        "results": str(out),
        "checks": [o.to_dict() for o in outcomes],
    }


def outcomes_table(assignment: Assignment, outcomes: list[Outcome]) -> Table:
    table = Table(title=plain(assignment.title), header_style="bold")
    for column in ("check", "points", "result", "evidence", "run folder"):
        table.add_column(column)
    for result in outcomes:
        table.add_row(
            plain(result.check),
            f"{result.points:g}/{result.max_points:g}",
            f"[{STYLE[result.status]}]{result.status}[/]",
            plain(result.evidence),
            plain(result.folders[0] if len(result.folders) == 1 else "\n".join(result.folders)),
        )
    return table
