"""JUnit XML of a check's outcomes, written with junitparser: one test case per check, a
failure for fail, skipped for inconclusive (not judged, so neither passed nor failed)."""

from __future__ import annotations

from pathlib import Path

from junitparser import Failure, JUnitXml, Skipped, TestCase, TestSuite

from labctl.assignment.model import Assignment, Outcome


def write_junit(path: Path, assignment: Assignment, outcomes: list[Outcome], suite_name: str | None = None) -> None:
    suite = TestSuite(suite_name or assignment.title)
    for result in outcomes:
        case = TestCase(result.check, classname=f"{assignment.title}.{result.kind}")
        case.system_out = f"{result.points:g}/{result.max_points:g} points: {result.evidence}\n" + "\n".join(
            result.folders
        )
        if result.status == "fail":
            case.result = [Failure(result.evidence, type_="fail")]
        elif result.status == "inconclusive":
            case.result = [Skipped(f"inconclusive: {result.evidence}")]
        suite.add_testcase(case)
    xml = JUnitXml()
    xml.add_testsuite(suite)
    xml.write(str(path), pretty=True)
