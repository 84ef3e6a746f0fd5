"""What a node holds at one moment (addresses, VRRP states, IPVS table and counters, services):
one type and one parser for everything labctl reads off a node, from the output of
provision/common/labctl-snapshot.sh, whether read once (status, up's checks) or every interval
(a scenario's polling)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labctl.observe import parse as observe

SECTIONS = ("hostname", "addr", "vrrp", "ipvs", "stats", "conns", "timeout", "services")


@dataclass
class NodeSnapshot:
    node: str
    t: float = 0.0  # host time of the reading (node time minus the node's clock offset)
    hostname: str = ""
    addresses: list[observe.IpAddress] = field(default_factory=list)
    vrrp: dict[str, str] = field(default_factory=dict)
    ipvs: observe.IpvsTable | None = None
    stats: observe.IpvsStats | None = None
    conns: list[observe.IpvsConnection] | None = None
    timeout: observe.IpvsTimeouts | None = None
    services: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # sections that did not parse, and the like

    def held(self, vips: list[str]) -> set[str]:
        """Which of VIPS this node has on an interface."""
        return observe.vips_held(self.addresses, vips)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "addresses": [f"{a.address}/{a.prefixlen} {a.ifname}" for a in self.addresses],
            "ipvs": self.ipvs.to_dict() if self.ipvs else None,
            "vrrp": dict(self.vrrp),
            "services": dict(self.services),
            "problems": list(self.problems),
        }


def _services(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        unit, _, state = line.partition(" ")
        if unit:
            found[unit] = state.strip() or "unknown"
    return found


PARSERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "hostname": ("hostname", str.strip),
    "addr": ("addresses", observe.parse_ip_addr),
    "vrrp": ("vrrp", observe.parse_vrrp_states),
    "ipvs": ("ipvs", observe.parse_ipvsadm_ln),
    "stats": ("stats", observe.parse_ipvsadm_stats),
    "conns": ("conns", observe.parse_ipvsadm_connections),
    "timeout": ("timeout", observe.parse_ipvsadm_timeout),
    "services": ("services", _services),
}


def from_sections(node: str, t: float, sections: dict[str, list[str]]) -> NodeSnapshot:
    snapshot = NodeSnapshot(node, t)
    for name, lines in sections.items():
        attribute, parse = PARSERS[name]
        try:
            setattr(snapshot, attribute, parse("\n".join(lines)))
        except observe.ParseError as exc:
            snapshot.problems.append(f"{name}: {exc}")
    return snapshot


def parse_snapshots(text: str | list[str], node: str, offset: float = 0.0) -> list[NodeSnapshot]:
    """Every complete snapshot in TEXT (a sample cut short, because the node went down, is
    dropped), on the host's time base: node time minus OFFSET."""
    lines = text.splitlines() if isinstance(text, str) else text
    found: list[NodeSnapshot] = []
    current: dict[str, list[str]] | None = None
    node_time = 0.0
    section = ""
    for line in lines:
        if line.startswith("@@sample "):
            try:
                node_time = float(line.split()[1])
            except (IndexError, ValueError):
                current = None
                continue
            current, section = {}, ""
        elif current is None:
            continue
        elif line == "@@end":
            found.append(from_sections(node, node_time - offset, current))
            current = None
        elif line.startswith("@@") and line[2:] in SECTIONS:
            section = line[2:]
            current[section] = []
        elif section:
            current[section].append(line)
    return found


def parse_snapshot(node: str, text: str) -> NodeSnapshot:
    """One reading; a reading that did not finish is a snapshot with a problem."""
    found = parse_snapshots(text, node)
    if found:
        return found[-1]
    return NodeSnapshot(node, problems=["no complete snapshot in the node's answer"])
