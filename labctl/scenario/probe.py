"""Probes: HTTP request loops run inside the client, and the records they print.

The script (provision/client/labctl-probe.py) is pushed to the client and streamed back one
JSON line per request; records are moved to the host's time base with the client's offset
(labctl.observe.probes parses them).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labctl.lab.runtime import Capability, LabAccess
from labctl.resources import provision_dir
from labctl.scenario.access import BIN_DIR
from labctl.scenario.streams import RecordedStream

PROBE_PATH = f"{BIN_DIR}/labctl-probe.py"


@dataclass(frozen=True)
class ProbeSpec:
    vips: tuple[str, ...]  # addresses
    rate: float = 20.0
    timeout: float = 0.5
    count: int = 0
    duration: float = 0.0
    sequential: bool = False
    port: int = 80
    path: str = "/"

    def argv(self, python: str = "python3", script: str = PROBE_PATH) -> list[str]:
        argv = [
            python,
            "-u",
            script,
            "--rate",
            str(self.rate),
            "--timeout",
            str(self.timeout),
            "--count",
            str(self.count),
            "--duration",
            str(self.duration),
            "--port",
            str(self.port),
            "--path",
            self.path,
        ]
        for vip in self.vips:
            argv += ["--vip", vip]
        if self.sequential:
            argv.append("--sequential")
        return argv


def probe_script() -> str:
    return (provision_dir() / "client" / "labctl-probe.py").read_text()


def start_probe(
    access: LabAccess,
    node: str,
    spec: ProbeSpec,
    raw_path: Path,
    name: str = "probe",
    on_line: Callable[[str], None] | None = None,
) -> RecordedStream:
    access.put(node, PROBE_PATH, probe_script(), mode=0o755, sudo=True)
    return RecordedStream(name, access.stream(node, spec.argv(), sudo=False), raw_path, on_line)


def start_host_probe(
    access: LabAccess,
    spec: ProbeSpec,
    raw_path: Path,
    name: str = "probe",
    on_line: Callable[[str], None] | None = None,
) -> RecordedStream | None:
    """The probe run on the host side of the lab network (inside the lab's namespace), so the
    emulated client pays nothing and every record has the host's clock; None when ACCESS
    cannot run programs there."""
    if Capability.HOST_PROGRAMS not in access.capabilities:
        return None
    script = str(provision_dir() / "client" / "labctl-probe.py")
    stream = access.host_stream(spec.argv(python=sys.executable, script=script))
    if stream is None:
        return None
    return RecordedStream(name, stream, raw_path, on_line)
