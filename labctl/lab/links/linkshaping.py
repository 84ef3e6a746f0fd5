"""Reversible changes to one node's lab link: loss and VRRP cuts (nftables netdev hooks),
delay/jitter (netem) and rate limits (tbf). Pure command builders plus one runner for the host
side; the scenario layer picks the side (labctl/scenario/linkactions.py).

Two places can hold such a change. The host side is the node's tap on the lab bridge, inside
the lab's namespace: it costs the emulated VM nothing. There, a qdisc (netem, tbf) shapes only
what leaves the tap, which is the traffic travelling TOWARD the VM; nftables hooks see both ways
(egress: toward the VM, ingress: from it). Inside the node, on its lab interface, the roles swap.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from typing import Protocol

from labctl.errors import LabctlError
from labctl.lab.host import netns
from labctl.templating import render

DIRECTIONS = ("toward", "from", "both")  # seen from the node: traffic to it, from it, or both
INTERFACE = re.compile(r"[A-Za-z0-9_.-]{1,15}")


class LinkError(LabctlError, RuntimeError):
    """A link change could not be made or undone."""


@dataclass(frozen=True)
class HostLink:
    """A node's interface on the host side of the lab network, inside NAMESPACE."""

    namespace: str | None
    interface: str
    what: str = ""


@dataclass(frozen=True)
class Ran:
    ok: bool
    output: str


class LinkSide(Protocol):
    """Where link commands run: the host side of a node's link, or the node itself."""

    where: str  # "host" or "node"
    interface: str

    def run(self, argv: list[str], stdin: str | None = None) -> Ran: ...


class HostSide:
    """Commands on the host, inside the lab's namespace, for the tap of one node."""

    where = "host"

    def __init__(self, link: HostLink) -> None:
        self.link = link
        self.interface = checked_interface(link.interface)

    def run(self, argv: list[str], stdin: str | None = None) -> Ran:
        proc = subprocess.run(
            netns.exec_argv(self.link.namespace, argv), input=stdin, capture_output=True, text=True, timeout=30
        )
        return Ran(proc.returncode == 0, (proc.stderr or proc.stdout).strip())


def checked_interface(name: str) -> str:
    """NAME as an interface name, or a refusal: it goes into nftables and tc command text."""
    if not INTERFACE.fullmatch(name):
        raise LinkError(f"not an interface name: {name!r}")
    return name


# --- what each change looks like ----------------------------------------------------------------


def hooks(where: str, direction: str) -> list[tuple[str, str]]:
    """(chain name, netdev hook) pairs that see DIRECTION's traffic on WHERE's interface."""
    if direction not in DIRECTIONS:
        raise LinkError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    toward = "egress" if where == "host" else "ingress"
    outward = "ingress" if where == "host" else "egress"
    wanted = {"toward": [("toward", toward)], "from": [("from", outward)]}
    return wanted.get(direction, wanted["toward"] + wanted["from"])


def filter_table(kind: str, interface: str) -> str:
    """The nftables table of one labctl filter KIND (loss, vrrp) on INTERFACE."""
    return f"labctl_{kind}_{checked_interface(interface).replace('-', '_').replace('.', '_')}"


def filter_ruleset(
    kind: str, where: str, interface: str, direction: str, loss_pct: float = 0.0, drop_vrrp: bool = False
) -> str:
    """An nftables ruleset dropping LOSS_PCT % of the frames (random) and/or every VRRP advert
    (IP protocol 112) in DIRECTION on INTERFACE."""
    if not 0.0 <= loss_pct <= 100.0:
        raise LinkError(f"loss must be 0-100 %, not {loss_pct}")
    chains = [{"name": name, "hook": hook} for name, hook in hooks(where, direction)]
    return render(
        "link-filter.nft.j2",
        table=filter_table(kind, interface),
        interface=checked_interface(interface),
        chains=chains,
        drop_vrrp=drop_vrrp,
        loss_per_mille=round(loss_pct * 10),
    )


def filter_remove(kind: str, interface: str) -> list[str]:
    return ["nft", "delete", "table", "netdev", filter_table(kind, interface)]


def netem_add(interface: str, delay_ms: float, jitter_ms: float, loss_pct: float) -> list[str]:
    """netem as the root qdisc of INTERFACE (what leaves it): delay +- jitter, random loss."""
    argv = ["tc", "qdisc", "replace", "dev", checked_interface(interface), "root", "netem"]
    if delay_ms or jitter_ms:
        argv += ["delay", f"{delay_ms:g}ms"] + ([f"{jitter_ms:g}ms"] if jitter_ms else [])
    if loss_pct:
        argv += ["loss", f"{loss_pct:g}%"]
    return argv


def tbf_add(interface: str, rate_bps: float, latency_ms: float = 100.0) -> list[str]:
    """A token bucket as the root qdisc of INTERFACE: what leaves it is held to RATE_BPS. The
    bucket holds 50 ms at the rate (at least two full frames), like a switch port's buffer: a
    sender that stalls for a moment and catches up is not punished; packets that would wait
    longer than LATENCY_MS are dropped (a full link)."""
    burst = max(int(rate_bps / 8 / 20), 2 * 1514 + 100)
    return [
        "tc", "qdisc", "replace", "dev", checked_interface(interface), "root",
        "tbf", "rate", f"{int(rate_bps)}bit", "burst", str(burst), "latency", f"{latency_ms:g}ms",
    ]  # fmt: skip


def root_qdisc_remove(interface: str) -> list[str]:
    return ["tc", "qdisc", "del", "dev", checked_interface(interface), "root"]


def root_qdisc_show(interface: str) -> list[str]:
    return ["tc", "qdisc", "show", "dev", checked_interface(interface), "root"]


# --- doing and undoing ----------------------------------------------------------------------------


def apply_filter(side: LinkSide, kind: str, direction: str, loss_pct: float = 0.0, drop_vrrp: bool = False) -> None:
    """Replace labctl's KIND filter on SIDE's interface (loading a table twice would add rules)."""
    ruleset = filter_ruleset(kind, side.where, side.interface, direction, loss_pct, drop_vrrp)
    remove_filter(side, kind)
    done = side.run(["nft", "-f", "-"], stdin=ruleset)
    if not done.ok:
        raise LinkError(f"nft on {side.where} side of {side.interface}: {done.output}")


def remove_filter(side: LinkSide, kind: str) -> bool:
    """Remove labctl's KIND filter; False when there was none (or the interface is gone)."""
    return side.run(filter_remove(kind, side.interface)).ok


def apply_root_qdisc(side: LinkSide, argv: list[str]) -> None:
    done = side.run(argv)
    if not done.ok:
        raise LinkError(f"{' '.join(argv[:3])} on {side.where} side of {side.interface}: {done.output}")


def remove_root_qdisc(side: LinkSide, kind: str) -> bool:
    """Remove the root qdisc when it is labctl's KIND (netem, tbf), leave any other alone."""
    shown = side.run(root_qdisc_show(side.interface))
    if not shown.ok or f"qdisc {kind} " not in shown.output + " ":
        return False
    return side.run(root_qdisc_remove(side.interface)).ok


def qdisc_unsupported(output: str) -> bool:
    """tc's answer when the kernel lacks a qdisc (no sch_netem on this host, say)."""
    return "qdisc kind is unknown" in output or "Unknown qdisc" in output
