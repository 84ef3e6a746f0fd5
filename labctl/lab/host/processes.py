"""Local programs labctl starts and streams from (in a namespace or not), stopped by group;
records that tell a process from a later one with the same PID."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class PopenLineStream:
    """The stdout lines of a process started in a namespace; stop() kills its process group."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen

    @classmethod
    def start(cls, argv: list[str], stderr: int = subprocess.STDOUT) -> PopenLineStream:
        """ARGV started in a process group of its own (stop() ends all it started), no stdin,
        its stdout read as lines (its stderr too, unless STDERR says otherwise)."""
        popen = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, start_new_session=True
        )
        return cls(popen)

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


# --- telling a process from a later one with the same PID --------------------------------------
#
# A PID alone names a process only while it lives: after it ends (or after a reboot, when saved
# state outlives it) the same number may belong to anything. A record therefore holds the PID
# with the boot it was seen in and the process's start time (clock ticks after boot, field 22
# of /proc/PID/stat); a process is signalled only when all three still match, through a pidfd
# opened before the check, so it cannot be swapped between the check and the signal.

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str:
    """This boot's id: it changes at every boot, so records from an earlier boot never match."""
    return _BOOT_ID.read_text().strip()


def start_time(pid: int) -> int | None:
    """PID's start time in clock ticks after boot (field 22 of /proc/PID/stat); None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (comm) is in parentheses and may hold spaces: count from the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    try:
        return int(fields[19])  # fields[0] is field 3 (state)
    except (IndexError, ValueError):
        return None


@dataclass(frozen=True)
class ProcessRecord:
    """A process as seen once: PID, the boot it ran in, its start time."""

    pid: int
    boot: str
    start: int

    @classmethod
    def of(cls, pid: int) -> ProcessRecord | None:
        start = start_time(pid)
        return None if start is None else cls(pid, boot_id(), start)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessRecord:
        return cls(int(data["pid"]), str(data["boot"]), int(data["start"]))

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "boot": self.boot, "start": self.start}

    def matches(self) -> bool:
        """True while the recorded process itself still runs (same boot, same start time)."""
        return self.boot == boot_id() and start_time(self.pid) == self.start


def signal_recorded(record: ProcessRecord, sig: int) -> bool:
    """Send SIG to the recorded process if, and only if, it is still that process."""
    try:
        pidfd = os.pidfd_open(record.pid)
    except ProcessLookupError:
        return False
    try:
        if not record.matches():  # checked after the pidfd pins the process: no swap possible
            return False
        signal.pidfd_send_signal(pidfd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(pidfd)


def process_alive(pid: int) -> bool:
    """True for a running process; a zombie (dead, not yet reaped) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def terminate(records: list[ProcessRecord], grace: float = 10.0) -> None:
    """SIGTERM the recorded processes, wait up to GRACE seconds, then SIGKILL the ones still
    alive; a PID that now belongs to another process (other start time) is never signalled."""
    alive = [r for r in records if r.matches() and process_alive(r.pid)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for record in alive:
            signal_recorded(record, sig)
        deadline = time.monotonic() + grace
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            alive = [r for r in alive if r.matches() and process_alive(r.pid)]
        if not alive:
            return


def group_members(leader: ProcessRecord) -> list[ProcessRecord]:
    """The processes of the group LEADER started (its group id is its PID): the leader while it
    is still the recorded process, and every process of that group started after it in this
    boot. Nothing when the leader's number now names another process."""
    if leader.boot != boot_id():
        return []
    now = start_time(leader.pid)
    if now is not None and now != leader.start:
        # The number belongs to another process: the recorded group is gone (Linux does not
        # reuse a PID that still names a group), and this one's group is not ours.
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            pgid = os.getpgid(pid)
        except ProcessLookupError:
            continue
        record = ProcessRecord.of(pid)
        if pgid == leader.pid and record is not None and record.start >= leader.start:
            found.append(record)
    return found


def stop_group(leader: ProcessRecord, grace: float = 15.0) -> bool:
    """Terminate every running member of LEADER's group (group_members); True if any ran. A
    zombie (a child of ours not yet waited for) counts as gone: no waiting on it."""
    members = [r for r in group_members(leader) if process_alive(r.pid)]
    terminate(members, grace)
    # What the group started meanwhile (Vagrant cleaning up runs ssh, virsh...).
    terminate([r for r in group_members(leader) if process_alive(r.pid)], 1.0)
    return bool(members)


# The child is told SIGTERM when labctl ends, killed outright included: `setpriv --pdeathsig`
# (util-linux) sets it, and it survives exec (ip, vagrant, tcpdump). The kernel ties it to the
# *thread* that started the child, so only children of the main thread get it: a worker
# thread's end would otherwise stop a child that should outlive it.
def dies_with_parent(argv: list[str]) -> list[str]:
    if threading.current_thread() is not threading.main_thread():
        return list(argv)
    return ["setpriv", "--pdeathsig", "TERM", "--", *argv]
