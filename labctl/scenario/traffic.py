"""The traffic experiments' two streams: the offered load (labctl-traffic.py, paced UDP to the
VIPs) and the host-side byte counters of every tap (labctl.lab.tapcounters). Both are recorded
raw in the run folder (traffic-NAME.txt, counters.txt) for the report to rebuild from.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labctl.lab import netns, tapcounters
from labctl.lab.processes import PopenLineStream
from labctl.scenario.access import BIN_DIR, LabAccess
from labctl.scenario.linkactions import host_link
from labctl.scenario.streams import RecordedStream

SENDER = Path(__file__).parent / "bin" / "labctl-traffic.py"
SENDER_PATH = f"{BIN_DIR}/labctl-traffic.py"
COUNTERS = "counters.txt"


@dataclass(frozen=True)
class TrafficSpec:
    vips: tuple[str, ...]  # addresses
    rate_bps: float  # in total, split evenly
    port: int = 9
    datagram: int = 1200
    duration: float = 0.0

    def argv(self, python: str = "python3", script: str = SENDER_PATH) -> list[str]:
        argv = [python, "-u", script, "--rate", f"{self.rate_bps:g}", "--port", str(self.port)]
        argv += ["--datagram", str(self.datagram), "--duration", f"{self.duration:g}"]
        for vip in self.vips:
            argv += ["--vip", vip]
        return argv


@dataclass(frozen=True)
class Offered:
    t: float
    vip: str
    bytes_total: int


def parse_offered(text: str) -> list[Offered]:
    found = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and not line.startswith("@"):
            try:
                found.append(Offered(float(parts[0]), parts[1], int(parts[2])))
            except ValueError:
                continue
    return found


def start_sender(
    access: LabAccess, client: str, spec: TrafficSpec, raw: Path, name: str, on_line: Callable[[str], None] | None
) -> tuple[RecordedStream, str]:
    """The sender on the host side of the lab network when the lab has one (the emulated
    client then pays nothing, and pacing is the host's), else inside CLIENT. Returns the
    stream and where it runs."""
    host_stream = getattr(access, "host_stream", None)
    if callable(host_stream):
        stream = host_stream(spec.argv(python=sys.executable, script=str(SENDER)))
        if stream is not None:
            return RecordedStream(name, stream, raw, on_line), "host"
    access.put(client, SENDER_PATH, SENDER.read_text(), mode=0o755, sudo=True)
    return RecordedStream(name, access.stream(client, spec.argv(), sudo=False), raw, on_line), client


def start_counters(access: LabAccess, node: str, raw: Path, interval: float = 1.0) -> RecordedStream:
    """The tap counters of the namespace holding NODE's host-side link (every tap is there)."""
    link = host_link(access, node)
    if link is None:
        raise RuntimeError("the lab has no host side to count its links on (not sandboxed)")
    popen = subprocess.Popen(
        netns.exec_argv(link.namespace, tapcounters.sampler_argv(interval)),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    return RecordedStream("counters", PopenLineStream(popen), raw)
