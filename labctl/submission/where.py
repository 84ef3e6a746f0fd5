"""Positions in a submission (FILE:LINE) and the error that names one."""

from __future__ import annotations

from dataclasses import dataclass

from labctl.errors import BadInput


@dataclass(frozen=True, order=True)
class Where:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class SubmissionError(BadInput):
    """A submission labctl cannot read or reproduce: `problems` holds `FILE:LINE: construct: reason`."""

    def __init__(self, where: Where | None, construct: str, reason: str) -> None:
        text = f"{where}: {construct}: {reason}" if where else f"{construct}: {reason}"
        super().__init__(text)
        self.where = where
        self.construct = construct
        self.reason = reason
        self.problems = [text]
