"""The real `labctl` command run as a user would (a new process, no terminal on stdin), for the
tests that need a whole command: exit codes, files and processes left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LABCTL = [sys.executable, "-m", "labctl.cli"]


def run_labctl(
    folder: Path, *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`labctl ARGS` in FOLDER; ENV is added to this process's environment."""
    return subprocess.run(
        [*LABCTL, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
