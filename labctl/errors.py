"""The error types the CLI shows as plain messages (a cause and the command that fixes it).

Every error labctl raises on purpose derives from `LabctlError` (the lower layers' own, such as
SshError or SandboxError, too, keeping the builtin base their catchers use); the CLI turns one
into `error: <message>` (or, for a file with problems, one `FILE:LINE: key.path: reason` line
each) and its exit code, never a traceback. tests/unit/test_error_hierarchy.py lists the few
exceptions outside it (control flow) and why.

Exit codes: 0 ok; 1 the lab or the run failed (a damaged state folder included); 2 bad input
(a lab file, scenario, run folder or option that cannot be used); `scenario run` also exits 3
for an inconclusive verdict.
"""

from __future__ import annotations

from collections.abc import Sequence

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INCONCLUSIVE = 3


def clip(text: str, limit: int = 200) -> str:
    """TEXT on one line and at most LIMIT characters: a hostile value may be megabytes long."""
    one = " ".join(str(text).split("\n")) if "\n" in str(text) else str(text)
    one = "".join(c if c >= " " or c == "\t" else "?" for c in one)
    return one if len(one) <= limit else one[: limit - 3] + "..."


class LabctlError(Exception):
    default_exit_code = EXIT_FAILED
    # An input's problems, shown one line each (a lab file's FILE:LINE lines); empty: the message.
    problems: Sequence[object] = ()

    def __init__(self, message: str, fix: str | None = None, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.exit_code = self.default_exit_code if exit_code is None else exit_code

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message


class BadInput(LabctlError):
    """Input labctl cannot use: a file, an option, a state file. Exit 2."""

    default_exit_code = EXIT_BAD_INPUT
