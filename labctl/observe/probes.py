"""The records a probe prints (provision/client/labctl-probe.py): one JSON line per HTTP request,
read back as ProbeRecords on the host's time base (the client's clock offset subtracted).

Pure: starting a probe and streaming its lines is labctl.scenario.probe's job.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ProbeRecord:
    t: float  # host time when the request started
    vip: str
    seq: int
    ok: bool
    status: int | None
    error: str | None
    ms: float
    real: str | None  # X-Real-Server: who answered

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_probe_line(line: str, offset: float = 0.0) -> ProbeRecord | None:
    """One request record, or None for the start/end markers and anything that is not one."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or "vip" not in data or "ok" not in data:
        return None
    return ProbeRecord(
        t=float(data["t"]) - offset,
        vip=str(data["vip"]),
        seq=int(data.get("seq", 0)),
        ok=bool(data["ok"]),
        status=data.get("status"),
        error=data.get("error"),
        ms=float(data.get("ms", 0.0)),
        real=data.get("real"),
    )


def parse_probe_lines(lines: list[str] | str, offset: float = 0.0) -> list[ProbeRecord]:
    if isinstance(lines, str):
        lines = lines.splitlines()
    records = [r for r in (parse_probe_line(line, offset) for line in lines) if r is not None]
    return sorted(records, key=lambda r: r.t)
