"""`labctl grade`'s batch: students found, sharded, graded one after another through a
LabRunner (import, apply + up, check, reset), a journal for --resume, rows, grade files, and
slices merged. The lab operations are behind LabRunner, so this logic runs on any lab."""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from labctl.assignment.model import Assignment, Outcome
from labctl.assignment.scoring import total
from labctl.errors import BadInput, LabctlError
from labctl.templating import render

JOURNAL = "journal.jsonl"
ASSIGNMENT = "assignment.json"
GRADES = ("grades.csv", "grades.md", "grades.html")


class GradeError(BadInput):
    """A batch that cannot start or be merged (a journal without --resume, a slice twice...)."""


class StepFailed(LabctlError):
    """A student's import or up failed: the row says why, and the batch goes on."""


@dataclass(frozen=True)
class Student:
    name: str
    sources: tuple[Path, ...]


class LabRunner(Protocol):
    def load(self, student: Student) -> Any: ...  # the submission imported; StepFailed if refused
    def apply(self, student: Student, submitted: Any) -> None: ...  # the lab made the student's
    def check(self, student: Student, submitted: Any, out: Path) -> list[Outcome]: ...
    def reset(self) -> None: ...  # the lab back to its known state


def find_students(folder: Path) -> list[Student]:
    """One student per entry of FOLDER (a folder or a single file), hidden ones skipped, by name."""
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    return [Student(p.stem if p.is_file() else p.name, (p,)) for p in entries]


def parse_shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise GradeError(f"--shard is I/N such as 2/5, got {text!r}") from None
    if not 1 <= i <= n:
        raise GradeError(f"--shard {text}: I must be between 1 and N")
    return i, n


def shard(students: list[Student], index: int, count: int) -> list[Student]:
    """Slice INDEX of COUNT (1-based): every COUNT-th student by name, so slices never overlap
    and every runner computes the same ones."""
    ordered = sorted(students, key=lambda s: s.name)
    return ordered[index - 1 :: count]


@dataclass
class Board:
    """What the progress board shows; the batch updates it."""

    total: int
    done: int = 0
    current: str = ""
    step: str = ""
    seconds: list[float] = field(default_factory=list)


@dataclass
class StepTimes:
    """Where a student's time goes (import, up, checks, reset): each step's seconds, the step
    ending when the next begins ("" ends the last)."""

    seconds: dict[str, float] = field(default_factory=dict)
    current: str = ""
    since: float = 0.0

    def begin(self, name: str) -> None:
        now = time.monotonic()
        if self.current:
            self.seconds[self.current] = round(now - self.since, 1)
        self.current, self.since = name, now


def read_journal(out: Path) -> list[dict[str, Any]]:
    path = out / JOURNAL
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a kill: that student is graded again
    return rows


def grade(
    students: list[Student],
    assignment: Assignment,
    runner: LabRunner,
    out: Path,
    resume: bool = False,
    on_change: Callable[[Board], None] | None = None,
) -> list[dict[str, Any]]:
    """Grade each student not in OUT's journal; every row in the journal as soon as it is done."""
    out.mkdir(parents=True, exist_ok=True)
    done = read_journal(out)
    if done and not resume:
        raise GradeError(f"{out / JOURNAL} holds {len(done)} graded students: add --resume, or use another -o")
    (out / ASSIGNMENT).write_text(json.dumps(assignment_header(assignment), indent=2))
    graded = {row["student"] for row in done}
    todo = [s for s in students if s.name not in graded]
    board = Board(total=len(todo))
    notify = on_change or (lambda b: None)
    for student in todo:
        board.current, started = student.name, time.monotonic()
        row = _grade_one(student, assignment, runner, out, board, notify)
        row["seconds"] = round(time.monotonic() - started, 1)
        with (out / JOURNAL).open("a") as journal:
            journal.write(json.dumps(row) + "\n")
            journal.flush()
            os.fsync(journal.fileno())
        board.done += 1
        board.seconds.append(row["seconds"])
        notify(board)
    rows = read_journal(out)
    write_grades(out, assignment_header(assignment), rows)
    return rows


def _grade_one(
    student: Student,
    assignment: Assignment,
    runner: LabRunner,
    out: Path,
    board: Board,
    notify: Callable[[Board], None],
) -> dict[str, Any]:
    steps = StepTimes()

    def step(name: str) -> None:
        steps.begin(name)
        board.step = name
        notify(board)

    step("import")
    try:
        submitted = runner.load(student)
    except StepFailed as exc:
        step("")
        return {**_row(student, "import failed", str(exc)), "steps": steps.seconds}
    row: dict[str, Any] = {}
    try:
        step("up")
        runner.apply(student, submitted)
        step("checks")
        outcomes = runner.check(student, submitted, out / "students" / student.name)
        row = _row(student, "graded", "", outcomes)
    except StepFailed as exc:
        row = _row(student, "up failed", str(exc))
    finally:
        step("reset")
        runner.reset()
        step("")
    return {**row, "steps": steps.seconds}


def _row(student: Student, status: str, reason: str, outcomes: list[Outcome] | None = None) -> dict[str, Any]:
    outcomes = outcomes or []
    return {
        "student": student.name,
        "status": status,
        "reason": " ".join(reason.split())[:500],
        "total": total(outcomes),
        "checks": {o.check: o.to_dict() for o in outcomes},
    }


def assignment_header(assignment: Assignment) -> dict[str, Any]:
    return {
        "title": assignment.title,
        "max_points": assignment.max_points,
        "checks": [{"name": c.name, "points": c.points, "kind": c.kind} for c in assignment.checks],
    }


def merge(slices: list[Path], out: Path) -> list[dict[str, Any]]:
    """Join the journals of SLICES (folders of `grade --shard`) into OUT's grade files."""
    headers = []
    rows: dict[str, dict[str, Any]] = {}
    for folder in slices:
        try:
            headers.append(json.loads((folder / ASSIGNMENT).read_text()))
        except (OSError, ValueError) as exc:
            raise GradeError(f"{folder}: not a grade folder ({ASSIGNMENT}: {exc})") from exc
        for row in read_journal(folder):
            if row["student"] in rows:
                raise GradeError(f"{row['student']} is graded in two slices (the second: {folder})")
            rows[row["student"]] = {**row, "folder": str(folder)}
    if any(h != headers[0] for h in headers):
        raise GradeError("the slices were graded with different assignments")
    out.mkdir(parents=True, exist_ok=True)
    ordered = [rows[name] for name in sorted(rows)]
    write_grades(out, headers[0], ordered)
    return ordered


def _link(row: dict[str, Any], folder: str, out: Path) -> str:
    """A check's evidence folder relative to OUT (grade files move with their folder)."""
    base = Path(row.get("folder") or out)
    target = Path(folder) if Path(folder).is_absolute() else base / folder
    return os.path.relpath(target, out.resolve()) if target.is_absolute() else str(target)


def table(header: dict[str, Any], rows: list[dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """Rows as the grade files show them: points per check, total, status, reason, links."""
    shown = []
    for row in sorted(rows, key=lambda r: r["student"]):
        cells = []
        for check in header["checks"]:
            result = row["checks"].get(check["name"])
            cells.append(
                {
                    "points": result["points"] if result else None,
                    "status": result["status"] if result else "",
                    "evidence": result["evidence"] if result else "",
                    "links": [_link(row, f, out) for f in result["folders"]] if result else [],
                }
            )
        findings = row["checks"].get("findings", {}).get("evidence", "")
        shown.append({**row, "cells": cells, "findings": findings})
    return shown


def time_spent(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean seconds per graded student, and how they split: the steps (import, up, checks,
    reset) and each check. Rows that ended before the lab (import failed) are left out."""
    graded = [r for r in rows if r.get("status") != "import failed" and "seconds" in r]

    def mean(values: list[float]) -> float:
        return round(sum(values) / len(values), 1) if values else 0.0

    steps = sorted({name for r in graded for name in r.get("steps", {})})
    checks = sorted({name for r in graded for name in r.get("checks", {})})
    return {
        "students": len(graded),
        "per_student_s": mean([float(r["seconds"]) for r in graded]),
        "steps_s": {n: mean([float(r["steps"][n]) for r in graded if n in r.get("steps", {})]) for n in steps},
        "checks_s": {
            n: mean([float(r["checks"][n].get("seconds", 0.0)) for r in graded if n in r["checks"]]) for n in checks
        },
    }


def write_grades(out: Path, header: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    shown = table(header, rows, out.resolve())
    spent = time_spent(rows)
    names = [c["name"] for c in header["checks"]]
    with (out / "grades.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "status", *names, "total", "max", "reason", "findings"])
        for row in shown:
            points = ["" if c["points"] is None else f"{c['points']:g}" for c in row["cells"]]
            writer.writerow(
                [row["student"], row["status"], *points, f"{row['total']:g}", f"{header['max_points']:g}",
                 row["reason"], row["findings"]]
            )  # fmt: skip
    (out / "grades.md").write_text(render("grades.md.j2", header=header, rows=shown, spent=spent))
    (out / "grades.html").write_text(render("grades.html.j2", header=header, rows=shown, spent=spent))
