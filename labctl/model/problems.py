"""Problems of an input file (`FILE:LINE: key.path: reason`), and the bound on how many are listed.

A file can hold any number of problems (20,000 unknown keys is 250 KB): the first LISTED_MAX are
listed and the rest only counted, so the answer stays short and its cost does not grow with them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from labctl.errors import BadInput

# A screenful: the first problems usually explain the rest (one mis-indented block makes every key
# under it wrong), and past this many a reader fixes those and runs again rather than scroll.
LISTED_MAX = 50


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


@dataclass
class ProblemList:
    """The first LISTED_MAX problems of FILE in the order found, and how many more there were."""

    file: str
    listed: list[Problem] = field(default_factory=list)
    more: int = 0

    def add(self, make: Callable[[], Problem]) -> None:
        """Count a problem; MAKE builds it only when it is listed (a 'did you mean' costs)."""
        if len(self.listed) < LISTED_MAX:
            self.listed.append(make())
        else:
            self.more += 1

    def append(self, problem: Problem) -> None:
        self.add(lambda: problem)

    def __bool__(self) -> bool:
        return bool(self.listed)

    def shown(self) -> list[Problem]:
        """The listed problems, then one line `FILE: and N more problems`: every line printed
        keeps the `FILE[:LINE]: ` start that editors and scripts read."""
        if not self.more:
            return list(self.listed)
        return [*self.listed, Problem(self.file, None, "", f"and {self.more:,} more problem{'s' * (self.more > 1)}")]


class ProblemsError(BadInput):
    """An input with problems, one line each (`problems`); `more` counts those not listed."""

    def __init__(self, problems: list[Problem] | ProblemList) -> None:
        self.more = problems.more if isinstance(problems, ProblemList) else 0
        self.problems = problems.shown() if isinstance(problems, ProblemList) else problems
        super().__init__("\n".join(str(p) for p in self.problems))
