"""The host-side byte counters of the lab's interfaces, as labctl.lab.links.tapcounters' sampler
prints them (`TIME INTERFACE TX_BYTES` a line, every tick), read back as Counts and rates.

Pure: running the sampler in the lab's namespace is labctl.lab.links.tapcounters' job.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Count:
    t: float
    interface: str
    tx_bytes: int


def parse_line(line: str) -> Count | None:
    parts = line.split()
    if len(parts) != 3:
        return None
    try:
        return Count(float(parts[0]), parts[1], int(parts[2]))
    except ValueError:
        return None


def parse_lines(text: str) -> list[Count]:
    return [c for c in (parse_line(line) for line in text.splitlines()) if c is not None]


def rates(counts: list[Count], interface: str) -> list[tuple[float, float]]:
    """(time, bits/s) of INTERFACE between consecutive ticks (at the end of each span). A
    counter that went backwards (a new device with the same name) starts over."""
    series = sorted((c for c in counts if c.interface == interface), key=lambda c: c.t)
    found = []
    for before, after in zip(series, series[1:]):
        span = after.t - before.t
        if span > 0 and after.tx_bytes >= before.tx_bytes:
            found.append((after.t, 8 * (after.tx_bytes - before.tx_bytes) / span))
    return found
