"""What a node holds right now (addresses, IPVS table, VRRP states, services), parsed from the
output of provision/common/node-state.sh (`labctl.lab.snapshot` runs it over SSH)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labctl.observe import parse as observe


@dataclass
class NodeView:
    node: str
    hostname: str = ""
    addresses: list[observe.IpAddress] = field(default_factory=list)
    ipvs: observe.IpvsTable | None = None
    vrrp: dict[str, str] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def holds(self, vips: list[str]) -> set[str]:
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


def split_sections(text: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("@@"):
            current = line[2:].strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return {name: "\n".join(lines) for name, lines in sections.items()}


def parse_node_state(node: str, text: str) -> NodeView:
    view = NodeView(node)
    sections = split_sections(text)
    view.hostname = sections.get("hostname", "").strip()
    parsers: tuple[tuple[str, Callable[[str], None]], ...] = (
        ("addr", lambda t: setattr(view, "addresses", observe.parse_ip_addr(t))),
        ("ipvs", lambda t: setattr(view, "ipvs", observe.parse_ipvsadm_ln(t))),
        ("vrrp", lambda t: setattr(view, "vrrp", observe.parse_vrrp_states(t))),
    )
    for name, parse in parsers:
        if name in sections:
            try:
                parse(sections[name])
            except observe.ParseError as exc:
                view.problems.append(f"{name}: {exc}")
    for line in sections.get("services", "").splitlines():
        unit, _, state = line.partition(" ")
        if unit:
            view.services[unit] = state.strip() or "unknown"
    return view
