"""What each action does to a node, and how to undo it.

Services are driven through `access.service(node, unit, op)` when the lab has the SERVICES
capability (the namespace lab does: there is no systemd there), otherwise with systemctl on the
node.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError
from labctl.lab.host import safefiles
from labctl.lab.links import linkshaping as ls
from labctl.lab.runtime import Capability, LabAccess
from labctl.observe.parse import IpvsTimeouts, parse_ipvsadm_timeout
from labctl.observe.runrecords import PHASE
from labctl.scenario import linkactions as link
from labctl.scenario import traffic

# `down`/`up` with a method: the failover scenario's one knob.
DOWN = {
    "poweroff": "power-off",
    "keepalived-stop": "keepalived-stop",
    "keepalived-kill": "keepalived-kill",
    "link-down": "link-down",
}
UP = {
    "poweroff": "power-on",
    "keepalived-stop": "keepalived-start",
    "keepalived-kill": "keepalived-start",
    "link-down": "link-up",
}
# The action that puts each disruptive action right again (used by cleanup).
UNDO = {
    "power-off": "power-on",
    "keepalived-stop": "keepalived-start",
    "keepalived-kill": "keepalived-start",
    "link-down": "link-up",
    "nginx-stop": "nginx-start",
    "impair": "impair-clear",
    "vrrp-cut": "vrrp-restore",
    "shape": "unshape",
    # The traffic experiment: IPVS services for iperf3 on a balancer, iperf3 processes on the
    # client and the reals (started by the traffic step, which records "iperf-start").
    "iperf-services": "iperf-services-clear",
    "iperf-start": "iperf-stop",
}
UNDOING = set(UNDO.values())


class ActionFailed(LabctlError, RuntimeError):
    """An action on a node (or its undoing) did not take."""


LinkAction = Callable[[LabAccess, str, dict[str, Any]], dict[str, Any]]
# Changes to a node's lab link (labctl/scenario/linkactions.py), with the step's options.
LINK_ACTIONS: dict[str, LinkAction] = {
    "impair": link.impair,
    "impair-clear": lambda access, node, _: link.clear_impairment(access, node),
    "vrrp-cut": link.cut_vrrp,
    "vrrp-restore": lambda access, node, _: link.restore_vrrp(access, node),
    "shape": link.shape,
    "unshape": lambda access, node, _: link.unshape(access, node),
}


def concrete(action: str, method: str | None) -> str:
    if action == "down":
        return DOWN[method or "poweroff"]
    if action == "up":
        return UP[method or "poweroff"]
    return action


def service(access: LabAccess, node: str, unit: str, op: str) -> None:
    """OP is start, stop or kill (SIGKILL to every process of the unit, as a crash would)."""
    if Capability.SERVICES in access.capabilities:
        access.service(node, unit, op)
        return
    commands = {
        "start": f"systemctl reset-failed {unit} 2>/dev/null; systemctl start {unit}",
        "stop": f"systemctl stop {unit}",
        # A crash, not a shutdown: keepalived's children die with a SIGTERM when their parent
        # goes (and would then send goodbye adverts and drop the VIP), and the parent respawns
        # children that die. So freeze the parent, kill the children, then the parent.
        "kill": (
            f"main=$(systemctl show -p MainPID --value {unit}); "
            f'[ "$main" -gt 0 ] && kill -STOP $main && pkill -KILL -P $main; '
            f"kill -KILL $main"
        ),
    }
    result = access.run(node, commands[op], sudo=True, timeout=60)
    if not result.ok:
        raise ActionFailed(f"{node}: {unit} {op}: {result.stderr.strip() or result.stdout.strip()}")


def set_link(access: LabAccess, node: str, up: bool) -> None:
    interface = access.lab.network.interface
    result = access.run(node, ["ip", "link", "set", interface, "up" if up else "down"], sudo=True)
    if not result.ok:
        raise ActionFailed(f"{node}: ip link set {interface}: {result.stderr.strip()}")


def read_timeouts(access: LabAccess, node: str) -> IpvsTimeouts:
    result = access.run(node, ["ipvsadm", "-L", "--timeout"], sudo=True)
    if not result.ok:
        raise ActionFailed(f"{node}: ipvsadm -L --timeout: {result.stderr.strip()}")
    return parse_ipvsadm_timeout(result.stdout)


def set_timeouts(access: LabAccess, node: str, timeouts: IpvsTimeouts) -> None:
    result = access.run(
        node, ["ipvsadm", "--set", str(timeouts.tcp), str(timeouts.tcpfin), str(timeouts.udp)], sudo=True
    )
    if not result.ok:
        raise ActionFailed(f"{node}: ipvsadm --set: {result.stderr.strip()}")


@dataclass
class Restorer:
    """Remembers what a run changed so cleanup can put every node back, in reverse order.

    With a JOURNAL (a file in the lab's state folder) every change is also written there as it
    happens, before the action itself: a run killed outright (SIGKILL, a crash, a power cut)
    leaves the journal, and `labctl scenario restore` (or the next `scenario run`) replays it,
    so no balancer stays powered off for good. A clean cleanup removes it."""

    pending: dict[tuple[str, str], str] = field(default_factory=dict)  # (node, what) -> undo
    timeouts: dict[str, IpvsTimeouts] = field(default_factory=dict)  # node -> original
    journal: Path | None = None
    journal_base: Path | None = None  # the lab folder: where the safe walk to JOURNAL starts
    # Actions on several nodes run at once (Engine.for_each_node): one change at a time here.
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def about_to(self, node: str, action: str) -> None:
        """Note the undo of ACTION before doing it: killed mid-action, the journal still has it."""
        if action in UNDO:
            with self.lock:
                self.pending[(node, _thing(action))] = UNDO[action]
                self.save()

    def changed(self, node: str, action: str) -> None:
        with self.lock:
            if action in UNDO:
                self.pending[(node, _thing(action))] = UNDO[action]
            elif action in UNDOING:
                self.pending.pop((node, _thing(action)), None)
            self.save()

    def to_dict(self) -> dict[str, Any]:
        return {
            "pending": [[node, thing, undo] for (node, thing), undo in self.pending.items()],
            "timeouts": {node: t.to_dict() for node, t in self.timeouts.items()},
        }

    def save(self) -> None:
        """Write the journal (when there is one): what is still to put back, now."""
        if self.journal is None:
            return
        with self.lock:
            text = json.dumps(self.to_dict(), indent=2) + "\n"
            safefiles.write_file(self.journal, text, 0o600, base=self.journal_base)

    def clear(self) -> None:
        """Everything is back: forget it, journal included."""
        self.pending.clear()
        self.timeouts.clear()
        if self.journal is not None:
            try:
                with safefiles.open_dir(self.journal.parent, self.journal_base, create=False) as folder:
                    safefiles.remove_at(folder, self.journal.name)
            except FileNotFoundError:
                pass

    @classmethod
    def load(cls, journal: Path, base: Path | None = None) -> Restorer | None:
        """The Restorer a killed run left in JOURNAL (None when there is no journal)."""
        try:
            data = json.loads(safefiles.read_text(journal))
        except FileNotFoundError:
            return None
        restorer = cls(journal=journal, journal_base=base)
        for node, thing, undo in data.get("pending", []):
            if undo in PHASE:
                restorer.pending[(str(node), str(thing))] = str(undo)
        for node, values in (data.get("timeouts") or {}).items():
            restorer.timeouts[str(node)] = IpvsTimeouts(int(values["tcp"]), int(values["tcpfin"]), int(values["udp"]))
        return restorer

    def replay(self, access: LabAccess) -> tuple[list[str], list[str]]:
        """Put back what is recorded: (what was done, what failed). The journal goes once
        nothing failed; otherwise it keeps what is still to do."""
        done, failed = [], []
        for node, undo in self.undo_list():
            try:
                perform(access, node, undo, self)
                done.append(f"{node}: {undo}")
            except Exception as exc:  # noqa: BLE001 - each node on its own; the rest still goes back
                failed.append(f"{node}: {undo}: {exc}")
        for node, original in list(self.timeouts.items()):
            try:
                set_timeouts(access, node, original)
                del self.timeouts[node]
                done.append(f"{node}: ipvs-timeouts {original.tcp} {original.tcpfin} {original.udp}")
            except Exception as exc:  # noqa: BLE001
                failed.append(f"{node}: ipvs-timeouts: {exc}")
        if failed:
            self.save()
        else:
            self.clear()
        return done, failed

    def undo_list(self) -> list[tuple[str, str]]:
        # Power first (a node must be up before its services can start), then the rest.
        with self.lock:
            items = [(node, undo) for (node, _), undo in self.pending.items()]
        return sorted(items, key=lambda item: item[1] != "power-on")


def _thing(action: str) -> str:
    return {
        "power-off": "power",
        "power-on": "power",
        "link-down": "link",
        "link-up": "link",
        "nginx-stop": "nginx",
        "nginx-start": "nginx",
        "impair": "impairment",
        "impair-clear": "impairment",
        "vrrp-cut": "vrrp",
        "vrrp-restore": "vrrp",
        "shape": "shaping",
        "unshape": "shaping",
        "iperf-services": "iperf-services",
        "iperf-services-clear": "iperf-services",
        "iperf-start": "iperf",
        "iperf-stop": "iperf",
    }.get(action, "keepalived")


def _shell(access: LabAccess, node: str, action: str, script: str, timeout: float = 60) -> None:
    result = access.run(node, script, sudo=True, timeout=timeout)
    if not result.ok:
        raise ActionFailed(f"{node}: {action}: {(result.stderr or result.stdout).strip()}")


def perform(access: LabAccess, node: str, action: str, restorer: Restorer, options: dict | None = None) -> dict:
    """Do ACTION on NODE; return details for the event log."""
    options = options or {}
    details: dict = {}
    restorer.about_to(node, action)
    if action == "power-off":
        access.power_off(node)
    elif action == "power-on":
        access.power_on(node)
    elif action.startswith("keepalived-"):
        service(
            access,
            node,
            "keepalived",
            {"keepalived-stop": "stop", "keepalived-kill": "kill", "keepalived-start": "start"}[action],
        )
    elif action in ("link-down", "link-up"):
        set_link(access, node, action == "link-up")
    elif action in ("nginx-stop", "nginx-start"):
        service(access, node, "nginx", "stop" if action == "nginx-stop" else "start")
    elif action == "ipvs-timeouts":
        current = read_timeouts(access, node)
        with restorer.lock:
            restorer.timeouts.setdefault(node, current)
            restorer.save()
        wanted = IpvsTimeouts(
            int(options.get("tcp", current.tcp)),
            int(options.get("tcpfin", current.tcpfin)),
            int(options.get("udp", current.udp)),
        )
        set_timeouts(access, node, wanted)
        details = {"before": current.to_dict(), "after": wanted.to_dict()}
    elif action == "iperf-services":
        lab = access.lab
        port = int(options.get("port", traffic.PORT))
        script = traffic.services_script([v.address for v in lab.vips], [r.address for r in lab.reals], port)
        _shell(access, node, action, script)
        details = {
            "port": port,
            "services": 2 * len(lab.vips),
            "reals": [r.name for r in lab.reals],
            "at_boot": traffic.BOOT_UNIT,  # the services come back by themselves before keepalived
        }
    elif action == "iperf-services-clear":
        _shell(access, node, action, traffic.clear_services_script())
    elif action == "iperf-stop":
        _shell(access, node, action, traffic.stop_script(), timeout=30 + 2 * traffic.STOP_WAIT_S)
    elif action in LINK_ACTIONS:
        try:
            details = LINK_ACTIONS[action](access, node, options)
        except ls.LinkError as exc:
            raise ActionFailed(f"{node}: {action}: {exc}") from exc
    else:
        raise ActionFailed(f"unknown action {action}")
    restorer.changed(node, action)
    return details
