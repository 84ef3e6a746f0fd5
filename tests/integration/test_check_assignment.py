"""`labctl check` on the namespace lab: real keepalived and nginx, the real probe, failovers by
the scenario engine, judged by the report's analysis; a bad assignment through the real CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml

from labctl.assignment.loader import parse_assignment
from labctl.cli.check import check_and_report
from tests.support.nslab import ns_lab  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration

PASSING = """\
title: namespace lab
checks:
  - name: serves
    points: 2
    kind: serves
  - name: owners
    points: 1
    kind: owners
  - name: survives-b1
    points: 3
    kind: survives
    balancers: [b1]
    set: {settle: 2, down_for: 3, after: 2, max_preemption: 20}
"""

# In namespaces each balancer's own nginx answers (no IPVS in the host kernel): a VIP answered
# by r1 alone cannot be, and b1 does not hold VI_2.
FAILING = """\
title: namespace lab, wrong expectations
checks:
  - name: serves-by-r1
    points: 2
    kind: serves
    seconds: 2
    reals: [r1]
  - name: owners-b1
    points: 1
    kind: owners
    map: {VI_1: b1, VI_2: b1}
"""


def test_a_passing_assignment_and_its_junit(ns_lab, tmp_path: Path):
    assignment = parse_assignment(PASSING, "ns.yaml", ns_lab.lab)
    junit = tmp_path / "check.xml"
    code = check_and_report(ns_lab, ns_lab.lab, assignment, tmp_path / "results", junit=junit)
    suite = next(iter(JUnitXml.fromfile(str(junit))))
    print({case.name: case.system_out for case in suite})
    assert code in (0, 3)  # 3 only when this host was too loaded to judge the failover's timing
    assert (suite.tests, suite.failures) == (3, 0)
    # serves and owners judge one probe run (the same scenario, the same parameters).
    assert (tmp_path / "results" / "serves" / "serves" / "summary.json").exists()
    assert not (tmp_path / "results" / "owners").exists()
    survived = tmp_path / "results" / "survives-b1" / "down-b1"
    assert (survived / "capture.pcap").exists() and (survived / "report.md").exists()


def test_a_failing_check_exits_1_with_its_evidence(ns_lab, tmp_path: Path):
    assignment = parse_assignment(FAILING, "ns.yaml", ns_lab.lab)
    junit = tmp_path / "check.xml"
    assert check_and_report(ns_lab, ns_lab.lab, assignment, tmp_path / "results", junit=junit) == 1
    cases = {case.name: case for case in next(iter(JUnitXml.fromfile(str(junit))))}
    serves, owners = cases["serves-by-r1"].result[0], cases["owners-b1"].result[0]
    assert isinstance(serves, Failure) and "VI_1 answered by b1, not r1" in serves.message
    assert isinstance(owners, Failure) and owners.message == "VI_2 held by b2, expected b1"


def test_a_bad_assignment_exits_2_with_file_line(tmp_path: Path):
    subprocess.run(
        [sys.executable, "-m", "labctl.cli.main", "init", str(tmp_path / "lab")], check=True, capture_output=True
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\nchecks:\n  - name: a\n    points: 1\n    kind: survives\n    method: halt\n")
    done = subprocess.run(
        [sys.executable, "-m", "labctl.cli.main", "check", "-f", str(tmp_path / "lab" / "lab.yaml"),
         "--assignment", str(bad)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"{bad}:6: checks.0.method: must be one of keepalived-stop, poweroff, got 'halt'" in done.stderr
