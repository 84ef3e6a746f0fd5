"""Byte counters of the lab's interfaces on the host side, every second: how much each node's
tap carried toward it (its tx_bytes: the VM's inbound traffic, after any shaping on the tap).

One shell loop inside the lab's namespace (where /sys/class/net shows that namespace's
interfaces) prints `TIME INTERFACE TX_BYTES` for every interface at each tick; the pairing of
interfaces with nodes comes from the run's events, since a VM's tap is renamed when it reboots.
The lines are read back (Counts, rates) by labctl.observe.tapcounters.
"""

from __future__ import annotations

# Every interface at each tick: a tap born after a reboot is counted from its first tick.
SAMPLER = (
    'while :; do t=$(date +%s.%N); for d in /sys/class/net/*; do read b < "$d/statistics/tx_bytes" '
    '&& echo "$t ${d##*/} $b"; done; sleep "$0"; done'
)


def sampler_argv(interval: float = 1.0) -> list[str]:
    return ["sh", "-c", SAMPLER, f"{interval:g}"]
