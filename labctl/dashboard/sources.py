"""Where live readings come from, pluggable: the lab of a lab file over SSH (LiveLabSource), or
any LabAccess (AccessSource: the namespace lab of the integration tests, a lab without VMs)."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from labctl.errors import LabctlError
from labctl.lab.runtime import LabAccess
from labctl.model.lab import Lab
from labctl.observe.snapshot import NodeSnapshot, parse_snapshot
from labctl.resources import provision_dir
from labctl.scenario.access import BIN_DIR, VRRP_DIR

if TYPE_CHECKING:
    from labctl.lab.access import LiveLab

# Its own copy of the snapshot script: a scenario run rewriting its copy must not cut ours short.
SCRIPT = f"{BIN_DIR}/labctl-dashboard-snapshot.sh"
SECTIONS = ["addr", "vrrp", "ipvs", "services"]


@dataclass
class LabCheck:
    up: bool
    why: str | None = None
    running: set[str] | None = None  # nodes whose VM runs; None: try them all


class StateSource(Protocol):
    lab: Lab

    def check(self) -> LabCheck:
        """Cheap, host side only: is the lab there at all, which nodes are powered."""

    def read(self, node: str) -> NodeSnapshot:
        """One snapshot of NODE (one round trip); raises when it cannot be reached."""

    def close(self) -> None: ...


class AccessSource:
    """Readings through a LabAccess: the snapshot script is put on the node once (again after a
    reboot emptied /run) and run once per poll."""

    def __init__(self, access: LabAccess) -> None:
        self.access = access
        self.lab = access.lab
        self._placed: set[str] = set()
        self._lock = threading.Lock()

    def check(self) -> LabCheck:
        return LabCheck(True)

    def read(self, node: str) -> NodeSnapshot:
        with self._lock:
            placed = node in self._placed
        if not placed:
            self.access.put(node, SCRIPT, (provision_dir() / "common" / "labctl-snapshot.sh").read_text(), 0o755)
            with self._lock:
                self._placed.add(node)
        result = self.access.run(node, ["sh", SCRIPT, "--vrrp-dir", VRRP_DIR, *SECTIONS], sudo=True, timeout=10)
        if "@@end" not in result.stdout:
            with self._lock:
                self._placed.discard(node)  # rebooted (empty /run) or cut short: put it again
            raise LabctlError(f"{node}: {(result.stderr or result.stdout).strip()[-200:] or f'exit {result.rc}'}")
        return parse_snapshot(node, result.stdout)

    def close(self) -> None:
        """The access belongs to whoever made it."""


class LiveLabSource:
    """The lab of LAB_PATH, opened when it is up and let go when it is gone, so a dashboard can
    start before `labctl up` and outlive `labctl destroy`."""

    def __init__(self, lab: Lab, lab_path: Path) -> None:
        self.lab = lab
        self.lab_path = lab_path
        self._stack: contextlib.ExitStack | None = None
        self._live: LiveLab | None = None

    def check(self) -> LabCheck:
        if self._live is None:
            from labctl.lab.access import open_live_lab  # the VM layer: only when asked

            stack = contextlib.ExitStack()
            try:
                self._live = stack.enter_context(open_live_lab(self.lab_path, require_up=False))
            except LabctlError as exc:
                stack.close()
                return LabCheck(False, exc.message)
            except Exception as exc:  # noqa: BLE001 - a damaged lab file or state: the page says why
                stack.close()
                return LabCheck(False, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            self._stack = stack
        if not self._live.is_up():
            self.close()
            return LabCheck(False, f"lab {self.lab.name} is not up")
        try:
            running = self._live.running_nodes()
        except Exception as exc:  # noqa: BLE001 - e.g. not root for the lab's namespace: say it on the page
            return LabCheck(False, f"cannot ask the hypervisor: {str(exc).strip() or type(exc).__name__}")
        if running is not None and not running:
            return LabCheck(False, "no node is running")
        return LabCheck(True, None, running)

    def read(self, node: str) -> NodeSnapshot:
        live = self._live
        if live is None:
            raise LabctlError("lab is down")
        return live.read_state(node, wait=5.0)

    def close(self) -> None:
        stack, self._stack, self._live = self._stack, None, None
        if stack is not None:
            stack.close()
