"""Link actions of scenarios: impair (loss, delay, jitter), cut VRRP, shape the rate; and
their undoing. Each picks where the change lives (see labctl/lab/links/linkshaping.py): the host side
of the node's link when the lab has one (free for the emulated VM), else inside the node.

Undoing never needs to know where the change was made: it removes labctl's filters and qdiscs
on both sides, so a journal replayed after a killed run puts everything back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labctl.lab.links import linkshaping as ls
from labctl.lab.runtime import Capability, LabAccess
from labctl.model import planner
from labctl.scenario.access import RUN_DIR

NFT_FILE = f"{RUN_DIR}/link.nft"
SIDES = ("auto", "host", "node")


class NodeSide:
    """Link commands inside NODE, on its lab interface."""

    where = "node"

    def __init__(self, access: LabAccess, node: str) -> None:
        self.access, self.node = access, node
        self.interface = ls.checked_interface(access.lab.network.interface)

    def run(self, argv: list[str], stdin: str | None = None) -> ls.Ran:
        if stdin is not None:  # the SSH runner has no stdin: the ruleset goes as a file
            self.access.put(self.node, NFT_FILE, stdin, mode=0o600)
            argv = [NFT_FILE if part == "-" else part for part in argv]
        result = self.access.run(self.node, argv, sudo=True, timeout=30)
        return ls.Ran(result.ok, (result.stderr or result.stdout).strip())


def host_link(access: LabAccess, node: str) -> ls.HostLink | None:
    """NODE's interface on the host side of the lab network, when the lab offers one (its
    HOST_LINK capability)."""
    return access.link(node) if Capability.HOST_LINK in access.capabilities else None


def side_for(access: LabAccess, node: str, at: str = "auto") -> ls.LinkSide:
    if at not in SIDES:
        raise ls.LinkError(f"at must be one of {', '.join(SIDES)}, not {at!r}")
    link = host_link(access, node) if at != "node" else None
    if link is not None:
        return ls.HostSide(link)
    if at == "host":
        raise ls.LinkError(f"{node}: the lab has no host side for its link (not sandboxed)")
    return NodeSide(access, node)


def impair(access: LabAccess, node: str, options: dict[str, Any]) -> dict[str, Any]:
    """Loss alone: nftables drops, in DIRECTION (both by default). Delay or jitter: netem,
    which delays what leaves an interface: on the host side that is traffic toward the node,
    inside the node traffic from it; a host kernel without netem sends it inside the node."""
    delay, jitter = float(options.get("delay", 0)), float(options.get("jitter", 0))
    loss = float(options.get("loss", 0))
    at = str(options.get("at", "auto"))
    if not (delay or jitter):
        direction = str(options.get("direction", "both"))
        side = side_for(access, node, at)
        ls.apply_filter(side, "loss", direction, loss_pct=loss)
        return {"at": side.where, "interface": side.interface, "mechanism": "nftables", "direction": direction,
                "loss_pct": loss}  # fmt: skip
    wanted = options.get("direction")
    if wanted == "from" and at == "auto":
        at = "node"
    side = side_for(access, node, at)
    note = None
    done = side.run(ls.netem_add(side.interface, delay, jitter, loss))
    if not done.ok and side.where == "host" and ls.qdisc_unsupported(done.output) and at == "auto":
        note = "the host kernel has no netem: applied inside the node"
        side = NodeSide(access, node)
        done = side.run(ls.netem_add(side.interface, delay, jitter, loss))
    if not done.ok:
        raise ls.LinkError(f"netem on {side.where} side of {node}: {done.output}")
    applied = "toward" if side.where == "host" else "from"
    if wanted not in (None, applied):
        side.run(ls.root_qdisc_remove(side.interface))
        raise ls.LinkError(f"netem on the {side.where} side delays traffic {applied} {node}, not {wanted}")
    return {"at": side.where, "interface": side.interface, "mechanism": "netem", "direction": applied,
            "delay_ms": delay, "jitter_ms": jitter, "loss_pct": loss, "note": note}  # fmt: skip


def clear_impairment(access: LabAccess, node: str) -> dict[str, Any]:
    def undo(side: ls.LinkSide) -> list[str]:
        removed = [f"{side.where}: loss filter"] if ls.remove_filter(side, "loss") else []
        return removed + ([f"{side.where}: netem"] if ls.remove_root_qdisc(side, "netem") else [])

    return {"removed": _on_both_sides(access, node, undo)}


def cut_vrrp(access: LabAccess, node: str, options: dict[str, Any]) -> dict[str, Any]:
    """Drop every VRRP advert (IP protocol 112) to and/or from NODE: it stops hearing its peers
    (and they stop hearing it), so each side elects its own masters."""
    direction = str(options.get("direction", "both"))
    side = side_for(access, node, str(options.get("at", "auto")))
    ls.apply_filter(side, "vrrp", direction, drop_vrrp=True)
    return {"at": side.where, "interface": side.interface, "direction": direction}


def restore_vrrp(access: LabAccess, node: str) -> dict[str, Any]:
    def undo(side: ls.LinkSide) -> list[str]:
        return [f"{side.where}: vrrp filter"] if ls.remove_filter(side, "vrrp") else []

    return {"removed": _on_both_sides(access, node, undo)}


def shape(access: LabAccess, node: str, options: dict[str, Any]) -> dict[str, Any]:
    """Hold the traffic toward NODE to RATE with a token bucket on the host side of its link
    (the inbound direction of a balancer in direct routing: the one the capacity question is
    about). Inside a VM, a qdisc would shape what the node sends, so there is no fallback."""
    rate = planner.parse_rate(str(options["rate"]))
    side = side_for(access, node, "host")
    ls.apply_root_qdisc(side, ls.tbf_add(side.interface, rate))
    return {"at": side.where, "interface": side.interface, "rate_bps": rate}


def unshape(access: LabAccess, node: str) -> dict[str, Any]:
    link = host_link(access, node)
    removed = link is not None and ls.remove_root_qdisc(ls.HostSide(link), "tbf")
    return {"removed": ["host: tbf"] if removed else []}


def _on_both_sides(access: LabAccess, node: str, undo: Callable[[ls.LinkSide], list[str]]) -> list[str]:
    """UNDO on the host side (when there is one), then inside the node. A node that cannot be
    reached is an error only when the host side had nothing to undo: the change was inside it."""
    link = host_link(access, node)
    removed = undo(ls.HostSide(link)) if link is not None else []
    try:
        removed += undo(NodeSide(access, node))
    except Exception:
        if not removed:
            raise
    return removed
