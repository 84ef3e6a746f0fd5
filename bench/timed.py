"""What the bench scripts share: a timestamped progress line, and the real `labctl` command run
and timed (a failure ends the bench with labctl's own words)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

LABCTL = [sys.executable, "-m", "labctl.cli"]


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def labctl(folder: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Seconds `labctl ARGS` took in FOLDER, and its result."""
    started = time.monotonic()
    proc = subprocess.run([*LABCTL, *args], cwd=folder, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    elapsed = round(time.monotonic() - started, 2)
    if proc.returncode != 0:
        tail = proc.stdout[-2000:] + proc.stderr[-2000:]
        raise SystemExit(f"labctl {' '.join(args)} failed ({proc.returncode}):\n{tail}")
    return elapsed, proc
