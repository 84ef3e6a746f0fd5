"""Polling: provision/common/labctl-snapshot.sh run in a loop on each balancer, printing who
holds which VIP, VRRP states and the IPVS table every interval; the snapshots are parsed by
labctl.observe.snapshot. The loop runs ON the balancer, so samples are spaced by the node's own
clock and not by SSH round trips; labctl moves them to the host's time base.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labctl.lab.runtime import LabAccess
from labctl.resources import provision_dir
from labctl.scenario.access import BIN_DIR, VRRP_DIR
from labctl.scenario.streams import RecordedStream

CAPTURE_PATH = f"{BIN_DIR}/labctl-snapshot.sh"


@dataclass(frozen=True)
class CaptureSpec:
    interval: float = 0.2
    ipvs: bool = True
    stats: bool = False
    conns: bool = False
    timeout: bool = False

    def argv(self) -> list[str]:
        extra = [name for name in ("ipvs", "stats", "conns", "timeout") if getattr(self, name)]
        return ["sh", CAPTURE_PATH, "--every", str(self.interval), "--vrrp-dir", VRRP_DIR, "addr", "vrrp", *extra]


def capture_script() -> str:
    return (provision_dir() / "common" / "labctl-snapshot.sh").read_text()


def start_capture(
    access: LabAccess, node: str, spec: CaptureSpec, raw_path: Path, on_line: Callable[[str], None] | None = None
) -> RecordedStream:
    access.put(node, CAPTURE_PATH, capture_script(), mode=0o755, sudo=True)
    # sudo: ipvsadm needs root.
    return RecordedStream(f"capture-{node}", access.stream(node, spec.argv(), sudo=True), raw_path, on_line)
