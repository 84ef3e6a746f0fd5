"""`expect NAME`: a bound on a figure of the run's summary, judged once the run is analysed.
The metric path is checked against the summary's catalogue when the scenario is loaded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.model import when
from labctl.model.lab import Lab
from labctl.scenario.checks import Checker, Path, anything, number, text
from labctl.scenario.metrics import check_metric
from labctl.scenario.model import Step
from labctl.scenario.steps import StepKind, register

if TYPE_CHECKING:
    from labctl.scenario.runstate import RunContext


def check(check: Checker, step: Step, path: Path, lab: Lab | None, refs: set[str]) -> None:
    options = step.options
    if not any(k in options for k in ("max", "min", "equals")):
        check.problem((*path, "expect"), "an expectation needs max, min or equals")
    metric = options.get("metric")
    if isinstance(metric, str):
        reason = check_metric(metric, {v.name for v in lab.vips} if lab is not None else None)
        if reason:
            check.problem((*path, "metric"), reason)
    when_text = options.get("when")
    if isinstance(when_text, str) and not when.well_formed(when_text):
        check.problem((*path, "when"), when.SHAPE)


def run(engine: RunContext, step: Step) -> None:
    pass  # judged on the finished run's summary (report.analysis.evaluate_expectations)


register(
    StepKind(
        "expect",
        text,
        run,
        {"metric": text, "max": number(-1e18), "min": number(-1e18), "equals": anything, "when": text, "why": text},
        ("metric",),
        check=check,
        doc="a bound on a figure of the summary",
    )
)
