"""Byte counters of the lab's interfaces on the host side, every second: how much each node's
tap carried toward it (its tx_bytes: the VM's inbound traffic, after any shaping on the tap).

One shell loop inside the lab's namespace (where /sys/class/net shows that namespace's
interfaces) prints `TIME INTERFACE TX_BYTES` for every interface at each tick; the pairing of
interfaces with nodes comes from the run's events, since a VM's tap is renamed when it reboots.
"""

from __future__ import annotations

from dataclasses import dataclass

# Every interface at each tick: a tap born after a reboot is counted from its first tick.
SAMPLER = (
    'while :; do t=$(date +%s.%N); for d in /sys/class/net/*; do read b < "$d/statistics/tx_bytes" '
    '&& echo "$t ${d##*/} $b"; done; sleep "$0"; done'
)


@dataclass(frozen=True)
class Count:
    t: float
    interface: str
    tx_bytes: int


def sampler_argv(interval: float = 1.0) -> list[str]:
    return ["sh", "-c", SAMPLER, f"{interval:g}"]


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
