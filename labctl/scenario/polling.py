"""Captures: a loop on each balancer printing who holds which VIP, VRRP states and the IPVS
table every interval, and the samples parsed from what it prints.

The loop (provision/balancer/labctl-capture.sh) runs ON the balancer, so samples are spaced by
the node's own clock and not by SSH round trips; labctl moves them to the host's time base.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.observe import parse as observe
from labctl.resources import provision_dir
from labctl.scenario.access import BIN_DIR, VRRP_DIR, LabAccess
from labctl.scenario.streams import RecordedStream

CAPTURE_PATH = f"{BIN_DIR}/labctl-capture.sh"
SECTIONS = ("addr", "vrrp", "ipvs", "stats", "conns", "timeout")


@dataclass(frozen=True)
class CaptureSpec:
    interval: float = 0.2
    ipvs: bool = True
    stats: bool = False
    conns: bool = False
    timeout: bool = False

    def argv(self) -> list[str]:
        extra = [name for name in ("ipvs", "stats", "conns", "timeout") if getattr(self, name)]
        return ["sh", CAPTURE_PATH, str(self.interval), VRRP_DIR, *extra]


@dataclass
class CaptureSample:
    node: str
    t: float  # host time
    addresses: list[observe.IpAddress] = field(default_factory=list)
    vrrp: dict[str, str] = field(default_factory=dict)
    ipvs: observe.IpvsTable | None = None
    stats: observe.IpvsStats | None = None
    conns: list[observe.IpvsConnection] | None = None
    timeout: observe.IpvsTimeouts | None = None
    errors: list[str] = field(default_factory=list)  # sections that did not parse

    def held(self, vips: list[str]) -> set[str]:
        return observe.vips_held(self.addresses, vips)

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "t": self.t,
            "addresses": [a.to_dict() for a in self.addresses],
            "vrrp": self.vrrp,
            "ipvs": self.ipvs.to_dict() if self.ipvs else None,
            "timeout": self.timeout.to_dict() if self.timeout else None,
            "errors": self.errors,
        }


def capture_script() -> str:
    return (provision_dir() / "balancer" / "labctl-capture.sh").read_text()


def start_capture(
    access: LabAccess, node: str, spec: CaptureSpec, raw_path: Path, on_line: Callable[[str], None] | None = None
) -> RecordedStream:
    access.put(node, CAPTURE_PATH, capture_script(), mode=0o755, sudo=True)
    # sudo: ipvsadm needs root.
    return RecordedStream(f"capture-{node}", access.stream(node, spec.argv(), sudo=True), raw_path, on_line)


def parse_capture(text: str | list[str], node: str, offset: float = 0.0) -> list[CaptureSample]:
    """Samples from the loop's output; a sample cut short (the node went down) is dropped."""
    lines = text.splitlines() if isinstance(text, str) else text
    samples: list[CaptureSample] = []
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
            samples.append(_sample(node, node_time - offset, current))
            current = None
        elif line.startswith("@@") and line[2:] in SECTIONS:
            section = line[2:]
            current[section] = []
        elif section:
            current[section].append(line)
    return samples


def _sample(node: str, t: float, sections: dict[str, list[str]]) -> CaptureSample:
    sample = CaptureSample(node, t)
    parsers = {
        "addr": ("addresses", observe.parse_ip_addr),
        "vrrp": ("vrrp", observe.parse_vrrp_states),
        "ipvs": ("ipvs", observe.parse_ipvsadm_ln),
        "stats": ("stats", observe.parse_ipvsadm_stats),
        "conns": ("conns", observe.parse_ipvsadm_connections),
        "timeout": ("timeout", observe.parse_ipvsadm_timeout),
    }
    for name, lines in sections.items():
        attribute, parse = parsers[name]
        try:
            setattr(sample, attribute, parse("\n".join(lines)))
        except observe.ParseError as exc:
            sample.errors.append(f"{name}: {exc}")
    return sample
