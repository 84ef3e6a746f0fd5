"""What every command that changes a lab goes through: the lab's lock (one such command at a
time; a second one names the holder) and, for the bring-up, interrupts that also stop the
worker threads (see labctl.lab.host.signals)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labctl.lab.host import signals
from labctl.lab.host.lock import lab_lock
from labctl.lab.host.state import LabState


@contextmanager
def changing(lab_path: Path, lab_name: str, command: str, cancel_workers: bool = False) -> Iterator[LabState]:
    """Hold lab LAB_NAME's lock (its state folder beside LAB_PATH) while COMMAND runs."""
    state = LabState.for_lab(lab_path, lab_name)
    with lab_lock(state, command):
        if cancel_workers:
            with signals.cancelling():
                yield state
        else:
            yield state
