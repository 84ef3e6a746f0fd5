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


_ROUTED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def deferred() -> Iterator[list[int]]:
    """While the block runs, a first interrupt is only noted (in the list yielded; cancelling
    work as `_interrupt` does inside `cancelling()`), so the block cannot be cut at an arbitrary
    line; a second one raises KeyboardInterrupt at once. The caller raises for the first once
    its block is done. Outside the main thread it changes nothing (Python allows handlers there
    only)."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def note(signum: int, frame: FrameType | None) -> None:
        if caught:
            raise KeyboardInterrupt(signal.Signals(signum).name)
        caught.append(signum)
        if _scopes:
            cancelled.set()

    # Only signals Python already turns into exceptions: a default SIGTERM still ends the process.
    previous = {sig: signal.getsignal(sig) for sig in _ROUTED}
    mine = [sig for sig, handler in previous.items() if callable(handler)]
    for sig in mine:
        signal.signal(sig, note)
    try:
        yield caught
    finally:
        for sig in mine:
            signal.signal(sig, previous[sig])


def interrupt_for(caught: list[int]) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt a deferred first interrupt stands for, or None."""
    return KeyboardInterrupt(signal.Signals(caught[0]).name) if caught else None
