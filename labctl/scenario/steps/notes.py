"""`note TEXT` and `mark LABEL`: words and labels in events.jsonl and the report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.scenario.checks import text
from labctl.scenario.model import Step
from labctl.scenario.steps import StepKind, register

if TYPE_CHECKING:
    from labctl.scenario.runstate import RunContext


def run_note(engine: RunContext, step: Step) -> None:
    engine.event("note", text=str(step.value))


def run_mark(engine: RunContext, step: Step) -> None:
    engine.event("mark", label=str(step.value))


register(
    StepKind("note", text, run_note, doc="a sentence for the report"),
    StepKind("mark", text, run_mark, doc="a label on the timeline"),
)
