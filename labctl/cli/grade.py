"""`labctl grade`: a folder of submissions graded one after another on one running lab."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from labctl.assignment.model import Assignment, Outcome
from labctl.cli.check import load_assignment_or_exit
from labctl.cli.console import make_console, plain
from labctl.cli.options import lab_option, read_lab_or_exit
from labctl.errors import LabctlError
from labctl.grading.batch import Board, GradeError, StepFailed, Student, find_students, grade, merge, parse_shard
from labctl.grading.batch import shard as slice_of
from labctl.model.lab import Lab

console = make_console(soft_wrap=False)
err_console = make_console(stderr=True)


class VagrantLabRunner:
    """The real lab: the student's lab file written over the running one, then `up`'s second-up
    path (only changed files sent and provisioned), the checks, and the lab put back."""

    def __init__(self, lab_path: Path, reference: Lab, assignment: Assignment) -> None:
        self.lab_path, self.reference, self.assignment = lab_path, reference, assignment
        self.reference_text = lab_path.read_text()

    def load(self, student: Student) -> Any:
        from labctl.grading.submitted import read_submission

        try:
            return read_submission(list(student.sources), self.reference.name)
        except (LabctlError, OSError, ValueError) as exc:
            raise StepFailed(str(exc)) from exc

    def apply(self, student: Student, submitted: Any) -> None:
        wanted = submitted.imported.lab
        if [b.name for b in wanted.balancers] != [b.name for b in self.reference.balancers]:
            names = " ".join(b.name for b in self.reference.balancers)
            raise StepFailed(f"the submission's balancers differ from the lab's VMs ({names})")
        # The VMs stay the reference's; what the student configured replaces the rest.
        lab = replace(
            self.reference, vips=wanted.vips, vrrp=wanted.vrrp, ipvs=wanted.ipvs,
            keepalived_extra=wanted.keepalived_extra,
        )  # fmt: skip
        from labctl.model import initlab

        initlab.write_lab_file(self.lab_path.parent, lab, force=True, name=self.lab_path.name)
        self._up(lab)

    def _up(self, lab: Lab) -> None:
        from labctl.cli.progress import RichUpProgress
        from labctl.lab.bringup import bring_up

        result = bring_up(lab, self.lab_path, RichUpProgress(_quiet()))
        if not result.ok:
            reasons = [f"{n}: {f}" for n, f in result.failures.items()] + [
                f"{c.name} {c.node}: {c.detail}" for c in result.checks if not c.ok
            ]
            raise StepFailed("up: " + "; ".join(reasons[:3]))

    def check(self, student: Student, submitted: Any, out: Path) -> list[Outcome]:
        from labctl.grading.runner import run_checks
        from labctl.lab.access import open_lab

        lab = read_lab_or_exit(self.lab_path)
        with open_lab(self.lab_path) as access:
            return run_checks(access, lab, self.assignment, out, submitted)

    def reset(self) -> None:
        """The lab back to the reference: its `ready` snapshot when it has one, else `up`."""
        from labctl.cli.guard import changing
        from labctl.cli.snapshot import restore_and_check
        from labctl.lab.vms import vmstate

        self.lab_path.write_text(self.reference_text)
        try:
            # Under the lab's lock, as `labctl snapshot restore` takes it.
            with changing(self.lab_path, self.reference.name, f"snapshot restore {vmstate.READY}"):
                restored, checked, _ = restore_and_check(self.reference, self.lab_path, vmstate.READY, _quiet())
            back = restored.ok and checked is not None and checked.ok
        except LabctlError:  # no `ready` snapshot (up with --no-ready-snapshot), its VMs gone, the lab held
            back = False
        if not back:
            self._up(self.reference)


def _quiet() -> Console:
    """A console that prints nothing: the board is the view, and up's or a restore's own
    progress would tear it."""
    silent = make_console(stderr=True)
    silent.quiet = True
    return silent


def board_table(board: Board) -> Table:
    table = Table(title="grading", show_header=False)
    mean = sum(board.seconds) / len(board.seconds) if board.seconds else 0.0
    table.add_row("students", f"{board.done} done, {board.total - board.done} left")
    table.add_row("now", plain(f"{board.current}: {board.step}"))
    table.add_row("per student", f"{mean:.0f} s (last {board.seconds[-1]:.0f} s)" if board.seconds else "-")
    return table


@click.command("grade")
@click.argument("submissions", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@lab_option
@click.option("--assignment", "assignment_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out", "out", default="grades", show_default=True, type=click.Path(path_type=Path))
@click.option("--resume", is_flag=True, help="Go on after a killed run: students in the journal are not graded again.")
@click.option("--shard", "shard", metavar="I/N", help="Grade slice I of N (every N-th student by name).")
@click.option("--merge", "merge_dirs", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
def grade_cmd(
    submissions: Path | None,
    lab_path: Path,
    assignment_path: Path,
    out: Path,
    resume: bool,
    shard: str | None,
    merge_dirs: tuple[Path, ...],
) -> None:
    """Grade SUBMISSIONS (one folder or text file per student) on the running lab of -f: each
    imported as `labctl import` does, applied (`up` sends only what changed), checked, and the
    lab put back. Writes OUT/grades.csv, grades.md, grades.html and journal.jsonl. With
    --merge DIR..., join the folders of `--shard` runs into OUT instead."""
    try:
        if merge_dirs:
            rows = merge(list(merge_dirs), out)
            console.print(f"merged {len(rows)} students into {out}/grades.csv, grades.md, grades.html", markup=False)
            return
        if submissions is None:
            raise click.UsageError("give SUBMISSIONS, or --merge DIR...")
        lab = read_lab_or_exit(lab_path)
        assignment = load_assignment_or_exit(assignment_path, lab)
        students = find_students(submissions)
        if shard:
            students = slice_of(students, *parse_shard(shard))
        runner = VagrantLabRunner(lab_path, lab, assignment)
        with Live(board_table(Board(len(students))), console=err_console, refresh_per_second=2) as view:
            rows = grade(students, assignment, runner, out, resume, on_change=lambda b: view.update(board_table(b)))
    except GradeError as exc:
        err_console.print(f"error: {exc}", markup=False)
        sys.exit(2)
    console.print(f"graded {len(rows)} students: {out}/grades.csv, grades.md, grades.html", markup=False)
