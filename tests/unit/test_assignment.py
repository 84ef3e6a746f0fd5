"""Assignment files (schema, FILE:LINE problems), each kind's judgement of real-shaped
summaries, scoring, exit codes, and JUnit XML parsed back with junitparser."""

from __future__ import annotations

from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml, Skipped

from labctl.assignment.checker import AssignmentError
from labctl.assignment.kinds import all_kinds
from labctl.assignment.loader import parse_assignment, read_assignment
from labctl.assignment.model import Measured
from labctl.assignment.scoring import exit_code, outcome, total
from labctl.grading.junit import write_junit
from labctl.model.lab import reference_lab

ROOT = Path(__file__).resolve().parents[2]
LAB = reference_lab()
HOMEWORK = (ROOT / "tests/fixtures/homework-3.8-ipvs-keepalived.txt").read_text()


def _one(body: str):
    return parse_assignment(f"title: t\nchecks:\n{body}", "a.yaml", LAB).checks[0]


def test_the_shipped_homework_assignment_loads_against_the_reference_lab():
    assignment = read_assignment(ROOT / "assignments/homework-3.8.yaml", LAB)
    assert [c.kind for c in assignment.checks] == ["serves", "owners", "survives", "capacity", "answer", "findings"]
    assert assignment.max_points == 12


def test_problems_are_file_line_key_reason():
    text = (
        "title: t\nchecks:\n"
        "  - name: a\n    points: 1\n    kind: servs\n"  # line 5
        "  - name: b\n    points: -1\n    kind: survives\n    balancers: [b9]\n    method: halt\n"
        "  - name: c\n    points: 1\n    kind: answer\n    pattern: '\\d+'\n    expected: 6\n"
        "  - name: d\n    points: 1\n    kind: owners\n    map: {VI_1: b1}\n    colour: red\n"
    )
    with pytest.raises(AssignmentError) as caught:
        parse_assignment(text, "hw.yaml", LAB)
    shown = [str(p) for p in caught.value.problems]
    assert shown == [
        "hw.yaml:5: checks.0.kind: unknown kind 'servs'; did you mean 'serves'?",
        "hw.yaml:7: checks.1.points: points must be a number >= 0, got -1",
        "hw.yaml:10: checks.1.method: must be one of keepalived-stop, poweroff, got 'halt'",
        "hw.yaml:9: checks.1.balancers.0: no 'b9' in the lab (b1, b2, b3)",
        "hw.yaml:14: checks.2.pattern: the pattern needs a group, (...), around the answer",
        "hw.yaml:20: checks.3.colour: unknown parameter of owners; known: map",
    ]


def test_broken_yaml_and_a_non_assignment_are_refused_with_a_line():
    with pytest.raises(AssignmentError) as caught:
        parse_assignment("title: t\nchecks: [\n", "x.yaml")
    assert str(caught.value.problems[0]).startswith("x.yaml:3: broken YAML")
    with pytest.raises(AssignmentError, match="x.yaml:1: an assignment is a mapping"):
        parse_assignment("- 1\n", "x.yaml")


def _serves_summary(by_vip: dict, verdict: str = "pass") -> dict:
    return {"error": None, "requests": {"by_vip": by_vip}, "verdict": {"verdict": verdict, "reasons": []}}


def test_serves_needs_every_vip_answered_by_exactly_the_listed_reals():
    spec = _one("  - name: s\n    points: 2\n    kind: serves\n    reals: [r1, r2]\n")
    judge = all_kinds()["serves"].judge
    good = {v.address: {"total": 10, "failed": 0, "reals": {"r1": 5, "r2": 5}} for v in LAB.vips}
    assert judge(spec, LAB, Measured({"serves": _serves_summary(good)}))[:2] == ("pass", 2)
    one_real = dict(good, **{"10.10.1.20": {"total": 10, "failed": 0, "reals": {"r1": 10}}})
    status, points, evidence = judge(spec, LAB, Measured({"serves": _serves_summary(one_real)}))
    assert (status, points) == ("fail", 0) and "VI_2 answered by r1, not r1,r2" in evidence
    lost = dict(good, **{"10.10.1.10": {"total": 10, "failed": 3, "reals": {"r1": 7}}})
    assert "VI_1 failed 3 of 10" in judge(spec, LAB, Measured({"serves": _serves_summary(lost)}))[2]


def _failover_summary(verdict: str, outage: float | None = 0.8, error: str | None = None) -> dict:
    return {
        "error": error,
        "vips": {"VI_1": {"new_holder": "b2", "moved_after_s": 0.6, "outage_s": outage}},
        "verdict": {"verdict": verdict, "reasons": ["fidelity: jitter 40 ms"] if verdict != "pass" else []},
    }


def test_survives_keeps_inconclusive_apart_from_fail():
    spec = _one("  - name: s\n    points: 3\n    kind: survives\n    max_outage: 2\n")
    kind = all_kinds()["survives"]
    runs = kind.plan(spec, LAB)
    # The reference: b1 masters VI_1, b2 VI_2, b3 VI_3; keepalived-stop unless told otherwise.
    assert [(r.label, r.overrides["vip"], r.overrides["method"]) for r in runs] == [
        ("down-b1", "VI_1", "keepalived-stop"), ("down-b2", "VI_2", "keepalived-stop"),
        ("down-b3", "VI_3", "keepalived-stop"),
    ]  # fmt: skip
    passed = {r.label: _failover_summary("pass") for r in runs}
    assert kind.judge(spec, LAB, Measured(passed))[:2] == ("pass", 3)
    unsure = dict(passed, **{"down-b2": _failover_summary("inconclusive")})
    assert kind.judge(spec, LAB, Measured(unsure))[:2] == ("inconclusive", 0)
    late = dict(unsure, **{"down-b3": _failover_summary("pass", outage=4.5)})
    status, _, evidence = kind.judge(spec, LAB, Measured(late))
    assert status == "fail" and "late: VI_1 4.5 s" in evidence


def test_capacity_bounds_and_the_homework_answer():
    spec = _one("  - name: c\n    points: 3\n    kind: capacity\n    max_load_pct: 90\n")
    judge = all_kinds()["capacity"].judge

    def summary(load: float) -> dict:
        return {"error": None, "traffic": {"max_survivor_load_pct": load, "max_loss_pct": 0.4},
                "verdict": {"verdict": "pass"}}  # fmt: skip

    assert judge(spec, LAB, Measured({"traffic": summary(75.2)}))[0] == "pass"  # six VIPs
    assert judge(spec, LAB, Measured({"traffic": summary(99.9)}))[0] == "fail"  # three VIPs
    answer = read_assignment(ROOT / "assignments/homework-3.8.yaml", LAB).checks[4]
    # The homework proposes 3 addresses; the planner says 6 for 1.5 Gbit/s over 1 Gbit/s.
    assert all_kinds()["answer"].judge(answer, LAB, Measured(text=HOMEWORK)) == ("fail", 0, "answered 3, expected 6")
    fixed = HOMEWORK.replace("надо иметь и 3 IP", "надо иметь и 6 IP")
    assert all_kinds()["answer"].judge(answer, LAB, Measured(text=fixed))[0] == "pass"
    assert all_kinds()["answer"].judge(answer, LAB, Measured())[0] == "inconclusive"


def test_findings_cost_points_each_and_scores_are_bounded():
    spec = _one("  - name: f\n    points: 2\n    kind: findings\n    each: 0.5\n")
    judge = all_kinds()["findings"].judge
    found = ["hw.txt:20: auth_pass 'P0S@word2' is 9 characters", "hw.txt:80: VI_2: tie", "hw.txt:90: VI_3: tie"]
    assert judge(spec, LAB, Measured(findings=found))[:2] == ("fail", 0.5)
    assert judge(spec, LAB, Measured(findings=found * 3))[:2] == ("fail", 0)
    assert judge(spec, LAB, Measured(findings=[]))[:2] == ("pass", 2)
    outcomes = [outcome(spec, ("fail", 0.5, "x")), outcome(spec, ("pass", 99, "y"))]
    assert total(outcomes) == 2.5 and exit_code(outcomes) == 1
    assert exit_code([outcome(spec, ("inconclusive", 0, "z")), outcome(spec, ("pass", 2, ""))]) == 3
    assert exit_code([outcome(spec, ("pass", 2, ""))]) == 0


def test_junit_xml_parses_back(tmp_path: Path):
    assignment = read_assignment(ROOT / "assignments/homework-3.8.yaml", LAB)
    a, b, c = assignment.checks[:3]
    outcomes = [
        outcome(a, ("pass", 2, "VI_1 10/10"), ("/r/a",)),
        outcome(b, ("fail", 0, "VI_2 held by b1, expected b2")),
        outcome(c, ("inconclusive", 0, "b1: fidelity")),
    ]
    path = tmp_path / "check.xml"
    write_junit(path, assignment, outcomes)
    suite = next(iter(JUnitXml.fromfile(str(path))))
    assert (suite.tests, suite.failures, suite.skipped) == (3, 1, 1)
    cases = {case.name: case for case in suite}
    assert cases["q2-serves"].is_passed
    assert isinstance(cases["q2-owners"].result[0], Failure)
    assert cases["q2-owners"].result[0].message == "VI_2 held by b1, expected b2"
    assert isinstance(cases["q2-survives"].result[0], Skipped)


def test_the_homework_assignment_charges_mistakes_not_the_planners_information():
    from labctl.grading.submitted import read_submission

    findings = read_assignment(ROOT / "assignments/homework-3.8.yaml", LAB).checks[5]
    assert findings.kind == "findings"
    info = ["hw.txt: b1 fails: b2 750 Mbit/s (75 %), b3 750 Mbit/s (75 %) of 1 Gbit/s links, 1.5 Gbit/s over "
            "6 VIPs (250 Mbit/s each): within the links"]  # fmt: skip
    judge = all_kinds()["findings"].judge
    assert judge(findings, LAB, Measured(findings=info))[:2] == ("pass", 2)
    full = [info[0].replace("75 %", "100 %").replace("within the links", "degraded: a link is full")]
    assert judge(findings, LAB, Measured(findings=full))[:2] == ("fail", 1.5)
    # The homework as written: its 9-character password (and more) cost all the points.
    homework = read_submission([ROOT / "tests/fixtures/homework-3.8-ipvs-keepalived.txt"], "lab")
    assert judge(findings, LAB, Measured(findings=homework.findings))[:2] == ("fail", 0)
