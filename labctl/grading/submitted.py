"""A submission as the checks see it: imported as `labctl import` does (the lab, its findings)
plus its text, for `answer` checks. Nothing in it is run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labctl.lab.nodes.importcheck import check_import
from labctl.submission.importer import import_submission
from labctl.submission.mapping import Imported
from labctl.submission.report import report_data

# A student's text is read for answers only: a bound keeps a stray binary from costing much.
MAX_TEXT_BYTES = 2_000_000


@dataclass(frozen=True)
class Submitted:
    imported: Imported
    findings: list[str]
    text: str


def read_submission(sources: list[Path], name: str = "lab") -> Submitted:
    """Import SOURCES (raises SubmissionError / LabctlError with FILE:LINE when refused)."""
    imported = import_submission(sources, name)
    check_import(imported)
    return Submitted(imported, list(report_data(imported)["findings"]), submission_text(sources))


def submission_text(sources: list[Path]) -> str:
    files = [p for s in sources for p in (sorted(s.rglob("*")) if s.is_dir() else [s]) if p.is_file()]
    parts: list[str] = []
    budget = MAX_TEXT_BYTES
    for path in files:
        if budget <= 0:
            break
        data = path.read_bytes()[:budget]
        budget -= len(data)
        parts.append(data.decode("utf-8", errors="replace"))
    return "\n".join(parts)
