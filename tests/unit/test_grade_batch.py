"""`labctl grade`'s batch logic with real files and a fake LabRunner: a stand-in for the VMs
(import, apply + up, checks and reset are what a real lab does in minutes; here they return
outcomes the test chooses). The real runner is the CLI's; the checks themselves are tested on
the namespace lab (tests/integration/test_check_assignment.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from labctl.assignment.loader import read_assignment
from labctl.assignment.scoring import outcome
from labctl.grading.batch import (
    GradeError,
    StepFailed,
    find_students,
    grade,
    merge,
    parse_shard,
    shard,
    time_spent,
)
from labctl.model.lab import reference_lab

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = read_assignment(ROOT / "assignments/homework-3.8.yaml", reference_lab())


class FakeLab:
    """Records every call; a student named broken-* fails import, noup-* fails up."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.calls: list[str] = []
        self.stop_after = stop_after

    def load(self, student):
        self.calls.append(f"load {student.name}")
        if student.name.startswith("broken"):
            raise StepFailed("b1.conf:3: keepalived: unknown keyword 'vrrp_instanc'")
        return {"name": student.name}

    def apply(self, student, submitted):
        self.calls.append(f"apply {student.name}")
        if student.name.startswith("noup"):
            raise StepFailed("b2: provision.sh exited 1")

    def check(self, student, submitted, out):
        self.calls.append(f"check {student.name}")
        if self.stop_after is not None and sum(c.startswith("check") for c in self.calls) > self.stop_after:
            raise KeyboardInterrupt  # the batch killed mid-student
        passed = student.name != "bob"
        folder = out / "q2-serves" / "serves"
        return [
            outcome(spec, ("pass" if passed else "fail", spec.points if passed else 0, "ok"), (str(folder),))
            for spec in ASSIGNMENT.checks
        ]

    def reset(self):
        self.calls.append("reset")


@pytest.fixture
def submissions(tmp_path: Path) -> Path:
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("alice", "bob", "broken-carol", "noup-dave"):
        (folder / name).mkdir()
        (folder / name / "b1.conf").write_text("vrrp_instance VI_1 {}\n")
    (folder / "erin.txt").write_text("homework\n")
    (folder / ".hidden").write_text("")
    return folder


def test_rows_files_and_failures_that_do_not_stop_the_batch(submissions: Path, tmp_path: Path):
    lab, out = FakeLab(), tmp_path / "grades"
    rows = grade(find_students(submissions), ASSIGNMENT, lab, out)
    by_name = {r["student"]: r for r in rows}
    assert sorted(by_name) == ["alice", "bob", "broken-carol", "erin", "noup-dave"]
    assert by_name["alice"]["total"] == 12 and by_name["bob"]["total"] == 0
    assert by_name["broken-carol"]["status"] == "import failed" and "vrrp_instanc" in by_name["broken-carol"]["reason"]
    assert by_name["noup-dave"]["status"] == "up failed"
    # The lab is put back after every student that reached it, and only then.
    assert lab.calls.count("reset") == 4 and "apply broken-carol" not in lab.calls
    with (out / "grades.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert [r["student"] for r in table] == ["alice", "bob", "broken-carol", "erin", "noup-dave"]
    assert table[0]["q2-survives"] == "3" and table[0]["total"] == "12" and table[0]["max"] == "12"
    assert table[2]["q2-survives"] == "" and "vrrp_instanc" in table[2]["reason"]
    html = (out / "grades.html").read_text()
    assert 'href="students/alice/q2-serves/serves"' in html
    assert "| alice | graded |" in (out / "grades.md").read_text()


def test_resume_never_grades_a_student_twice(submissions: Path, tmp_path: Path):
    out = tmp_path / "grades"
    with pytest.raises(KeyboardInterrupt):
        grade(find_students(submissions), ASSIGNMENT, FakeLab(stop_after=1), out)
    assert [r["student"] for r in map(json.loads, (out / "journal.jsonl").read_text().splitlines())] == ["alice"]
    with pytest.raises(GradeError, match="--resume"):
        grade(find_students(submissions), ASSIGNMENT, FakeLab(), out)
    again = FakeLab()
    rows = grade(find_students(submissions), ASSIGNMENT, again, out, resume=True)
    assert "load alice" not in again.calls and len(rows) == 5
    assert len({r["student"] for r in rows}) == len(rows)


def test_shards_are_deterministic_disjoint_and_merge_back(submissions: Path, tmp_path: Path):
    students = find_students(submissions)
    slices = [shard(students, i, 3) for i in (1, 2, 3)]
    assert sorted(s.name for part in slices for s in part) == sorted(s.name for s in students)
    assert shard(list(reversed(students)), 2, 3) == slices[1]
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "x"):
        with pytest.raises(GradeError):
            parse_shard(bad)
    folders = []
    for i, part in enumerate(slices, start=1):
        folders.append(tmp_path / f"slice-{i}")
        grade(part, ASSIGNMENT, FakeLab(), folders[-1])
    rows = merge(folders, tmp_path / "merged")
    assert [r["student"] for r in rows] == sorted(s.name for s in students)
    html = (tmp_path / "merged" / "grades.html").read_text()
    assert 'href="../slice-1/students/alice/q2-serves/serves"' in html
    with pytest.raises(GradeError, match="graded in two slices"):
        merge([folders[0], folders[0]], tmp_path / "twice")


def test_each_row_says_where_the_time_went_and_the_grade_files_average_it(submissions: Path, tmp_path: Path):
    rows = {r["student"]: r for r in grade(find_students(submissions), ASSIGNMENT, FakeLab(), tmp_path / "g")}
    assert set(rows["alice"]["steps"]) == {"import", "up", "checks", "reset"}
    assert set(rows["broken-carol"]["steps"]) == {"import"}  # the lab was never touched
    assert all(c["seconds"] >= 0 for c in rows["alice"]["checks"].values())
    spent = time_spent(list(rows.values()))
    assert spent["students"] == 4 and set(spent["steps_s"]) == {"import", "up", "checks", "reset"}
    assert set(spent["checks_s"]) == {c.name for c in ASSIGNMENT.checks}
    assert "Time per graded student:" in (tmp_path / "g" / "grades.md").read_text()


def test_time_spent_averages_steps_and_checks_over_graded_students():
    rows = [
        {"status": "graded", "seconds": 100, "steps": {"up": 20, "checks": 70, "reset": 10},
         "checks": {"serves": {"seconds": 10}, "survives": {"seconds": 60}}},
        {"status": "graded", "seconds": 140, "steps": {"up": 40, "checks": 90, "reset": 10},
         "checks": {"serves": {"seconds": 20}, "survives": {"seconds": 70}}},
        {"status": "import failed", "seconds": 1, "steps": {"import": 1}, "checks": {}},
    ]  # fmt: skip
    spent = time_spent(rows)
    assert spent == {"students": 2, "per_student_s": 120.0, "steps_s": {"checks": 80.0, "reset": 10.0, "up": 30.0},
                     "checks_s": {"serves": 15.0, "survives": 65.0}}  # fmt: skip
