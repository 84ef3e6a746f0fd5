"""A scenario as plain data: parameters and the steps to run, each remembering its file line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PARAM_TYPES = ("int", "float", "str", "bool", "choice")


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    default: Any = None
    choices: tuple[Any, ...] = ()
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass
class Step:
    """One step: KIND with its main VALUE (`wait: 3`, `action: power-off`) and OPTIONS (the
    other keys of the same mapping). `where` is `FILE:LINE` for messages."""

    kind: str
    value: Any
    options: dict[str, Any] = field(default_factory=dict)
    where: str = ""
    path: str = ""
    steps: list[Step] = field(default_factory=list)  # foreach body

    def describe(self) -> str:
        value = self.value if not isinstance(self.value, dict) else ", ".join(f"{k}={v}" for k, v in self.value.items())
        extra = ", ".join(f"{k}={v}" for k, v in self.options.items() if k != "steps")
        return f"{self.kind} {value}" + (f" ({extra})" if extra else "")


@dataclass
class Scenario:
    name: str
    file: str
    description: str
    parameters: dict[str, Parameter]
    values: dict[str, Any]  # every parameter's value for this run (defaults and --set)
    steps: list[Step]
    source: str = ""  # the file's text, saved with the results
    explanation: str = ""  # why the lab behaves as it does: the report's "Why" section

    def expectations(self) -> list[Step]:
        found: list[Step] = []

        def walk(steps: list[Step]) -> None:
            for step in steps:
                if step.kind == "expect":
                    found.append(step)
                walk(step.steps)

        walk(self.steps)
        return found
