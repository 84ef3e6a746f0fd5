"""SIGTERM and SIGHUP behave like Ctrl-C: the main thread gets KeyboardInterrupt and the
command's own cleanup runs (a closed terminal or `kill` no longer skips it).

Inside `cancelling()` (bring-up), an interrupt also sets `cancelled`: SSH commands and
connection waits in worker threads then stop at once instead of running out their long
timeouts, so the command ends promptly. Outside it (a scenario's cleanup, which must still
talk to the nodes) only the main thread is interrupted."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

cancelled = threading.Event()
_scopes = 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    if _scopes:
        cancelled.set()
    raise KeyboardInterrupt(signal.Signals(signum).name)


def install() -> None:
    """Route SIGINT, SIGTERM and SIGHUP to KeyboardInterrupt (main thread only, as Python requires)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)


@contextmanager
def cancelling() -> Iterator[None]:
    """While the block runs, an interrupt also cancels the work of other threads."""
    global _scopes
    _scopes += 1
    try:
        yield
    finally:
        _scopes -= 1


def check() -> None:
    """Raise KeyboardInterrupt in a worker thread once the command has been interrupted."""
    if cancelled.is_set():
        raise KeyboardInterrupt("cancelled")
