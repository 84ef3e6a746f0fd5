"""What each action does to a node, and how to undo it.

Services are driven through `access.service(node, unit, op)` when the LabAccess has it (the
namespace lab does: there is no systemd there), otherwise with systemctl on the node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from labctl.observe.parse import IpvsTimeouts, parse_ipvsadm_timeout
from labctl.scenario.access import LabAccess

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
}
# Which way an action pushes the lab: analysis measures outages after "down" actions and
# recovery (preemption) after "up" ones.
PHASE = {
    "power-off": "down",
    "keepalived-stop": "down",
    "keepalived-kill": "down",
    "link-down": "down",
    "nginx-stop": "down",
    "power-on": "up",
    "keepalived-start": "up",
    "link-up": "up",
    "nginx-start": "up",
    "ipvs-timeouts": "config",
}


class ActionFailed(RuntimeError):
    pass


def concrete(action: str, method: str | None) -> str:
    if action == "down":
        return DOWN[method or "poweroff"]
    if action == "up":
        return UP[method or "poweroff"]
    return action


def service(access: LabAccess, node: str, unit: str, op: str) -> None:
    """OP is start, stop or kill (SIGKILL to every process of the unit, as a crash would)."""
    custom = getattr(access, "service", None)
    if callable(custom):
        custom(node, unit, op)
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
    """Remembers what a run changed so cleanup can put every node back, in reverse order."""

    pending: dict[tuple[str, str], str] = field(default_factory=dict)  # (node, what) -> undo
    timeouts: dict[str, IpvsTimeouts] = field(default_factory=dict)  # node -> original

    def changed(self, node: str, action: str) -> None:
        if action in UNDO:
            self.pending[(node, _thing(action))] = UNDO[action]
        elif PHASE.get(action) == "up":
            self.pending.pop((node, _thing(action)), None)

    def undo_list(self) -> list[tuple[str, str]]:
        # Power first (a node must be up before its services can start), then the rest.
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
    }.get(action, "keepalived")


def perform(access: LabAccess, node: str, action: str, restorer: Restorer, options: dict | None = None) -> dict:
    """Do ACTION on NODE; return details for the event log."""
    options = options or {}
    details: dict = {}
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
        restorer.timeouts.setdefault(node, current)
        wanted = IpvsTimeouts(
            int(options.get("tcp", current.tcp)),
            int(options.get("tcpfin", current.tcpfin)),
            int(options.get("udp", current.udp)),
        )
        set_timeouts(access, node, wanted)
        details = {"before": current.to_dict(), "after": wanted.to_dict()}
    else:
        raise ActionFailed(f"unknown action {action}")
    restorer.changed(node, action)
    return details
