"""`labctl grade` on real VMs (issue 21), on the session's lab.

CI grades two submissions with the checks that take seconds right after importing the same
homework by hand (tests/e2e/test_import.py: the lab already runs it, and the grading's reset
puts the reference lab back). The full test here grades four submissions with failovers and
the traffic experiment, minutes of VMs per student: marked `long`, left out of CI and run by
hand (`bash scripts/test.sh -m long tests/e2e/test_grade.py`).

- as-written: the homework; 3 VIPs leave a survivor at 100 % of its link (capacity fails);
- lonely-vip: VI_3 configured on b3 alone, so its only backup is its master: b3's failure
  takes VI_3 away (survives fails);
- broken: a keepalived.conf with a block left open: an import error row, and the batch goes on;
- six-vips: the planner's six VIPs (rendered by labctl itself): capacity passes (75 %).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.e2e.labrun import labctl

pytestmark = pytest.mark.e2e

HOMEWORK = Path(__file__).parents[1] / "fixtures" / "homework-3.8-ipvs-keepalived.txt"
ASSIGNMENT = """\
title: homework 3.8 on VMs, the e2e's share
checks:
  - name: serves
    points: 1
    kind: serves
  - name: survives
    points: 2
    kind: survives
    balancers: [b1, b3]
    set: {down_for: "4", after: "3"}
  - name: capacity
    points: 2
    kind: capacity
    down: b1
    set: {down_for: "8", settle: "3"}
"""
# The grades the submissions must get: status, then pass/fail per check (inconclusive is
# accepted where a check measures timing on a busy host, never in place of a fail).
EXPECTED = {
    "as-written": ("graded", {"serves": "pass", "survives": "pass", "capacity": "fail"}),
    "broken": ("import failed", {}),
    "lonely-vip": ("graded", {"serves": "pass", "survives": "fail", "capacity": "fail"}),
    "six-vips": ("graded", {"serves": "pass", "survives": "pass", "capacity": "pass"}),
}


def _without_vi3_on(text: str, nodes: int) -> str:
    """The homework with VI_3's block taken out of the first NODES configs (b1's, then b2's)."""
    block = re.compile(r"vrrp_instance VI_3 \{.*?\n\}\n", re.S)
    return block.sub("", text, count=nodes)


def _submissions(root: Path, six_lab: Path) -> Path:
    folder = root / "submissions"
    folder.mkdir()
    text = HOMEWORK.read_text()
    (folder / "as-written.txt").write_text(text)
    (folder / "lonely-vip.txt").write_text(_without_vi3_on(text, 2))
    (folder / "broken.txt").write_text(text.replace("    virtual_router_id 56\n", "    virtual_router_id 56 {\n", 1))
    six = folder / "six-vips"
    six.mkdir()
    rendered = six_lab / ".labctl" / "render" / "nodes"
    for node in ("b1", "b2", "b3"):
        (six / node).mkdir()
        shutil.copy(rendered / node / "keepalived.conf", six / node / "keepalived.conf")
    shutil.copy(rendered / "b1" / "ipvsadm.rules", six / "rules.txt")
    return folder


@pytest.mark.long
def test_grade_a_folder_of_four_submissions_on_one_lab(lab_dir, tmp_path):
    folder = lab_dir[0]
    six_lab = tmp_path / "six"
    assert labctl(tmp_path, "init", str(six_lab), "--provider", "libvirt", "--box", "local").returncode == 0
    assert labctl(six_lab, "plan", "--traffic", "1.5Gbit", "--link", "1Gbit", "--write").returncode == 0
    assert labctl(six_lab, "render").returncode == 0
    submissions = _submissions(tmp_path, six_lab)
    assignment = tmp_path / "assignment.yaml"
    assignment.write_text(ASSIGNMENT)
    out = tmp_path / "grades"
    original = (folder / "lab.yaml").read_text()
    try:
        proc = labctl(folder, "grade", str(submissions), "--assignment", str(assignment), "-o", str(out))
    finally:
        (folder / "lab.yaml").write_text(original)
    print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())}
    journal = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    assert sorted(rows) == sorted(EXPECTED) == sorted(r["student"] for r in journal)
    for row in journal:
        status, checks = EXPECTED[row["student"]]
        print(f"{row['student']}: {row['status']} {row['total']} in {row['seconds']} s", file=sys.stderr)
        assert row["status"] == status, row
        for check, wanted in checks.items():
            got = row["checks"][check]["status"]
            assert got == wanted or (wanted == "pass" and got == "inconclusive"), (row["student"], check, row)
    assert "broken" in rows and rows["broken"]["status"] == "import failed"
    for name in ("grades.md", "grades.html"):
        assert all(student in (out / name).read_text() for student in EXPECTED)
    status = json.loads(labctl(folder, "status", "--json").stdout)
    assert {v: e["holders"] for v, e in status["vips"].items()} == {"VI_1": ["b1"], "VI_2": ["b2"], "VI_3": ["b3"]}
