"""One command at a time per lab: render, up, down, destroy and scenario runs take the lab's
lock (fcntl.flock on `<state>/lock`); a second one waits briefly, then names the holder."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from labctl.errors import LabctlError
from labctl.lab.host import safefiles
from labctl.lab.host.state import LabState

LOCK_FILE = "lock"
_held: dict[str, int] = {}  # state folder -> depth: a command that locks twice does not wait on itself
_held_lock = threading.Lock()


class LabBusy(LabctlError):
    """Another labctl command is changing this lab."""


def holder(state: LabState) -> str:
    """What the lock file says about its holder ("pid 123: labctl up"), or a plain "another command"."""
    text = (state.read(LOCK_FILE) or "").strip()
    pid, _, command = text.partition(" ")
    return f"pid {pid}: labctl {command}" if pid.isdigit() and command else "another labctl command"


@contextmanager
def lab_lock(state: LabState, command: str, wait: float = 5.0) -> Iterator[None]:
    """Hold the lab's lock while the block runs; LabBusy after WAIT seconds of trying."""
    key = str(state.root)
    with _held_lock:
        if key in _held:
            _held[key] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _held_lock:
                _held[key] -= 1
        return
    state.ensure()
    with safefiles.open_dir(state.root, state.folder) as folder:
        fd = safefiles.open_at(folder, LOCK_FILE, os.O_RDWR | os.O_CREAT)  # the owner's, when root makes it
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LabBusy(
                        f"lab {state.root.name} is busy: {holder(state)} is changing it",
                        fix="wait for that command to finish (or stop it), then run this one again",
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {command}\n".encode(), 0)
        with _held_lock:
            _held[key] = 1
        try:
            yield
        finally:
            with _held_lock:
                _held.pop(key, None)
    finally:
        os.close(fd)  # releases the lock
