"""A node's daemons (keepalived, nginx) as detached process groups that outlive labctl.

Each is started in a session of its own (setsid) and recorded in its node's folder:
`<folder>/<node>/daemons/<name>.json` holds its command and its leader (PID, boot, start
time: `labctl.lab.host.processes.ProcessRecord`), so a later labctl (`status`, `scenario run`,
`down`, `destroy`) finds exactly it; and `<folder>/<node>/run/daemons/<name>` holds the PID for
the node's snapshot script (`services` section), which sees that folder as /run/labctl. Only
the recorded group is ever signalled, never a process by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.lab.host.processes import ProcessRecord, group_members, process_alive, signal_recorded, terminate

# Our own children among the daemons, reaped when they end (a dead child of a labctl that
# is still running would otherwise stay a zombie until it exits).
_children: list[subprocess.Popen[bytes]] = []


@dataclass
class Daemon:
    """A long-running program of a node, restartable by name. ARGV runs inside the node (the
    caller wraps it for the namespace); STALE_FILES (pid files) are removed before a start."""

    name: str
    argv: list[str]
    stale_files: list[str] = field(default_factory=list)
    digest: str = ""  # of its configuration: a second `up` restarts it only when this changes
    leader: ProcessRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "argv": self.argv,
            "stale_files": self.stale_files,
            "digest": self.digest,
            "leader": self.leader.to_dict() if self.leader else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Daemon:
        leader = data.get("leader")
        return cls(
            str(data["name"]),
            [str(a) for a in data["argv"]],
            [str(s) for s in data.get("stale_files", [])],
            str(data.get("digest", "")),
            ProcessRecord.from_dict(leader) if leader else None,
        )

    def members(self) -> list[ProcessRecord]:
        """The running processes of its group (none once it was stopped, or its PID reused)."""
        if self.leader is None:
            return []
        return [r for r in group_members(self.leader) if process_alive(r.pid)]

    @property
    def running(self) -> bool:
        return bool(self.members())


def digest_of(*texts: str) -> str:
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]


class DaemonStore:
    """The daemons of a lab's nodes, recorded under FOLDER/<node>/."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _record(self, node: str, name: str) -> Path:
        return self.folder / node / "daemons" / f"{name}.json"

    def _pidfile(self, node: str, name: str) -> Path:
        return self.folder / node / "run" / "daemons" / name

    def names(self, node: str) -> list[str]:
        folder = self.folder / node / "daemons"
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    def get(self, node: str, name: str) -> Daemon | None:
        try:
            return Daemon.from_dict(json.loads(self._record(node, name).read_text()))
        except FileNotFoundError:
            return None

    def all(self, node: str) -> list[Daemon]:
        return [d for d in (self.get(node, n) for n in self.names(node)) if d is not None]

    def save(self, node: str, daemon: Daemon) -> None:
        path = self._record(node, daemon.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(json.dumps(daemon.to_dict(), indent=2) + "\n")
        os.replace(partial, path)
        pidfile = self._pidfile(node, daemon.name)
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        pidfile.write_text(f"{daemon.leader.pid}\n" if daemon.leader else "")

    def forget(self, node: str, name: str) -> None:
        self._record(node, name).unlink(missing_ok=True)
        self._pidfile(node, name).unlink(missing_ok=True)

    def start(self, node: str, daemon: Daemon, wrapped: list[str]) -> Daemon:
        """Start DAEMON (WRAPPED: its argv as run inside the node) in a session of its own, its
        output appended to <node>/<name>.log, and record its leader."""
        for stale in daemon.stale_files:
            Path(stale).unlink(missing_ok=True)
        log_path = self.folder / node / f"{daemon.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                wrapped, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        _children.append(popen)
        daemon.leader = ProcessRecord.of(popen.pid)
        self.save(node, daemon)
        return daemon

    def stop(self, node: str, name: str, sig: int = signal.SIGTERM, grace: float = 10.0) -> bool:
        """Stop NAME's group: SIGTERM, SIGKILL after GRACE (with SIGKILL: at once, as a plug
        pulled). True if it ran. The record stays: `start` brings it back."""
        daemon = self.get(node, name)
        if daemon is None:
            return False
        members = daemon.members()
        if sig == signal.SIGKILL:
            # Every member stopped before any is killed: keepalived's children ask for SIGTERM
            # when their parent dies (PR_SET_PDEATHSIG), and a VRRP child that got to it between
            # two kills sent its goodbye adverts (a "dead" master handed over in 0.6 s, CI9).
            for member in members:
                signal_recorded(member, signal.SIGSTOP)
            for member in members:
                signal_recorded(member, signal.SIGKILL)
            deadline = time.monotonic() + grace
            while daemon.running and time.monotonic() < deadline:
                _reap()
                time.sleep(0.05)
        else:
            terminate(members, grace)
        _reap()
        return bool(members)

    def stop_all(self, node: str, sig: int = signal.SIGTERM, grace: float = 10.0) -> list[str]:
        return [d.name for d in self.all(node) if self.stop(node, d.name, sig, grace)]


def _reap() -> None:
    for child in list(_children):
        if child.poll() is not None:
            _children.remove(child)
