"""A long-running remote command whose output lines are saved to a file as they arrive.

The raw file is the record of truth: reports are rebuilt from it (`labctl report`), and a run
that is interrupted still leaves every line that came in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from labctl.lab.runtime import LineStream


class RecordedStream:
    """Reads STREAM in a thread, appending each line to RAW_PATH and passing it to ON_LINE."""

    def __init__(
        self, name: str, stream: LineStream, raw_path: Path, on_line: Callable[[str], None] | None = None
    ) -> None:
        self.name = name
        self.stream = stream
        self.raw_path = raw_path
        self._on_line = on_line
        self.lines = 0
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._pump, name=f"stream-{name}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            with open(self.raw_path, "a", encoding="utf-8") as out:
                for line in self.stream:
                    out.write(line + "\n")
                    out.flush()
                    self.lines += 1
                    if self._on_line is not None:
                        self._on_line(line)
        except BaseException as exc:  # noqa: BLE001 - kept for the report; the run goes on
            self.error = exc
        finally:
            self._done.set()

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the command has ended and every line is saved."""
        return self._done.wait(timeout)

    def stop(self, grace: float = 3.0) -> None:
        if not self._done.is_set():
            self.stream.stop()
        self._done.wait(grace)
