"""The one error type the CLI shows as a plain message (a cause and the command that fixes it)."""

from __future__ import annotations


class LabctlError(Exception):
    def __init__(self, message: str, fix: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message
