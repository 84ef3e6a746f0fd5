"""An assignment's checks on a running lab: each kind's scenario runs go through the scenario
engine and the report's analysis (`report.build`), then the kind judges their summaries."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labctl.assignment.kinds import all_kinds
from labctl.assignment.model import Assignment, CheckSpec, Measured, Outcome
from labctl.assignment.scoring import outcome
from labctl.grading.submitted import Submitted
from labctl.lab.runtime import Capability, LabAccess
from labctl.model.lab import Lab
from labctl.observe import runrecords
from labctl.observe.summary import RunSummary
from labctl.report.build import build_run
from labctl.scenario.engine import Engine
from labctl.scenario.loader import find, read_scenario

OnCheck = Callable[[CheckSpec], None]


def run_checks(
    access: LabAccess,
    lab: Lab,
    assignment: Assignment,
    out: Path,
    submitted: Submitted | None = None,
    on_check: OnCheck | None = None,
) -> list[Outcome]:
    """Every check of ASSIGNMENT in order; run folders under OUT/<check>/<label>/. A run two
    checks plan alike (the same scenario with the same parameters, such as the probe run that
    serves and owners both judge) runs once: the second check judges the first one's summary
    and points at its folder."""
    kinds = all_kinds()
    outcomes: list[Outcome] = []
    done: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[RunSummary, Path]] = {}
    for spec in assignment.checks:
        if on_check is not None:
            on_check(spec)
        kind = kinds[spec.kind]
        started = time.monotonic()
        measured = Measured(
            findings=submitted.findings if submitted else None, text=submitted.text if submitted else None
        )
        for planned in kind.plan(spec, lab):
            key = (planned.scenario, tuple(sorted(planned.overrides.items())))
            if key not in done:
                folder = out / _safe(spec.name) / _safe(planned.label)
                scenario = read_scenario(find(planned.scenario), planned.overrides, lab)
                done[key] = (run_scenario(access, scenario, folder), folder)
            summary, folder = done[key]
            measured.summaries[planned.label] = summary
            measured.folders[planned.label] = str(folder)
        seconds = round(time.monotonic() - started, 1)
        outcomes.append(outcome(spec, kind.judge(spec, lab, measured), tuple(measured.folders.values()), seconds))
    return outcomes


def run_scenario(access: LabAccess, scenario: Any, folder: Path) -> RunSummary:
    """One run as `labctl scenario run` makes it: the engine (with the lab's journal when it
    keeps one, so a killed check is put back by `up`), then the report from the raw files."""
    engine = Engine(access, scenario, folder)
    if Capability.JOURNAL in access.capabilities:
        from labctl.scenario.actions import Restorer

        engine.restorer = Restorer(journal=access.journal, journal_base=access.state_folder)
    engine.run()
    if not runrecords.cleanup_failed(folder):
        engine.restorer.clear()
    return build_run(folder)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64] or "_"
