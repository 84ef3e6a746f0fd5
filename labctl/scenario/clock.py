"""Node clocks against the host's: every timestamp in a report is host time.

Each node's offset is measured like NTP's simplest exchange: host time before and after a
`date +%s.%N` on the node; the node's reading belongs to the midpoint. The exchange with the
shortest round trip of a few wins (its midpoint is the least uncertain).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from labctl.lab.runtime import LabAccess


@dataclass(frozen=True)
class ClockOffset:
    node: str
    offset: float  # node clock minus host clock, seconds
    rtt: float  # round trip of the winning exchange: the uncertainty is half of it

    def to_host(self, node_time: float) -> float:
        return node_time - self.offset

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_offset(access: LabAccess, node: str, tries: int = 3) -> ClockOffset:
    best: ClockOffset | None = None
    for _ in range(tries):
        before = time.time()
        result = access.run(node, ["date", "+%s.%N"], sudo=False, timeout=15)
        after = time.time()
        try:
            node_time = float(result.stdout.strip())
        except ValueError:
            continue
        sample = ClockOffset(node, node_time - (before + after) / 2, after - before)
        if best is None or sample.rtt < best.rtt:
            best = sample
    if best is None:
        raise RuntimeError(f"{node}: cannot read the clock with `date +%s.%N`")
    return best
