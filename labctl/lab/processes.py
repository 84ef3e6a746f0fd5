"""Local programs labctl starts and streams from (in a namespace or not), stopped by group."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator


class PopenLineStream:
    """The stdout lines of a process started in a namespace; stop() kills its process group."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen

    def __iter__(self) -> Iterator[str]:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            yield raw.decode("utf-8", errors="replace").rstrip("\n")
        self.popen.wait()

    def stop(self) -> None:
        kill_group(self.popen, signal.SIGTERM)
        try:
            self.popen.wait(timeout=3)
        except subprocess.TimeoutExpired:
            kill_group(self.popen, signal.SIGKILL)
            self.popen.wait(timeout=3)

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()


def kill_group(popen: subprocess.Popen[bytes], sig: int) -> None:
    # Started with start_new_session: the group id is the PID we started.
    try:
        os.killpg(popen.pid, sig)
    except ProcessLookupError:
        pass
