"""Guest clocks after a resume or a restore: a VM brought back from saved memory wakes with the
clock it was saved with, behind the host by however long it slept. Each guest is measured over
SSH (its time against the host's midpoint of the round trip) and stepped with `date -s` when
it is off by more than a threshold (the box has no NTP client: nothing else would fix it).

`offset` and `needs_step` are the pure decision; `step_clocks` the I/O."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from labctl.lab.nodes.ssh import CommandResult, SessionResult, run_parallel

# Half a VRRP advert interval: below it, a step would be noise from the SSH round trip itself
# (tens of milliseconds to a few hundred under emulation).
STEP_THRESHOLD_S = 0.5
MAX_STEPS = 3


@dataclass(frozen=True)
class ClockReading:
    node: str
    before_s: float  # guest minus host before the step (negative: the guest is behind)
    after_s: float | None  # the same after it; None when no step was needed
    error: str | None = None

    def to_dict(self) -> dict[str, float | str | None]:
        return {"before_s": round(self.before_s, 3), "after_s": _round(self.after_s), "error": self.error}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def offset(host_sent: float, guest: float, host_back: float) -> float:
    """The guest's clock minus the host's, taking the guest's reading at the round trip's middle."""
    return guest - (host_sent + host_back) / 2


def needs_step(offset_s: float, threshold_s: float = STEP_THRESHOLD_S) -> bool:
    return abs(offset_s) > threshold_s


def parse_epoch(text: str) -> float | None:
    """The last line of `date +%s.%N` output as seconds, None when it is not one."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    try:
        return float(lines[-1]) if lines else None
    except ValueError:
        return None


def step_command(host_epoch: float) -> str:
    """Set the clock to HOST_EPOCH and print the clock as it is then (one round trip)."""
    return f"date -u -s @{host_epoch:.6f} >/dev/null && date +%s.%N"


Runner = Callable[[str | list[str], bool], CommandResult]


def measure_and_step(node: str, run: Runner, clock: Callable[[], float] = time.time) -> ClockReading:
    """Read NODE's clock; step it to the host's when it is off by more than the threshold; read
    the offset the step left (the step's own round trip is the measurement)."""
    sent = clock()
    result = run(["date", "+%s.%N"], False)
    back = clock()
    guest = parse_epoch(result.stdout)
    if result.rc != 0 or guest is None:
        return ClockReading(node, 0.0, None, f"cannot read its clock: {result.stderr.strip()[:120]}")
    before = offset(sent, guest, back)
    if not needs_step(before):
        return ClockReading(node, before, None)
    after = before
    # Again while still off: a guest just back from saved memory is busy, and its round trips
    # vary (measured: one step left -0.57 s on a resumed balancer).
    for _ in range(MAX_STEPS):
        # Half the last round trip ahead: the command lands about that long after it is sent.
        half_trip = (back - sent) / 2
        sent = clock()
        result = run(step_command(sent + half_trip), True)
        back = clock()
        stepped = parse_epoch(result.stdout)
        if result.rc != 0 or stepped is None:
            return ClockReading(node, before, None, f"date -s failed: {result.stderr.strip()[:120]}")
        after = offset(sent, stepped, back)
        if not needs_step(after):
            break
    return ClockReading(node, before, after)


def step_clocks(sessions: dict[str, SessionResult]) -> dict[str, ClockReading]:
    """Every node's clock measured and stepped, all at once."""

    def one(node: str, opened: SessionResult) -> ClockReading:
        session = opened.get()
        return measure_and_step(node, lambda argv, sudo: session.run(argv, sudo=sudo, timeout=30))

    found = run_parallel(sessions, one)
    return {
        node: r if isinstance(r, ClockReading) else ClockReading(node, 0.0, None, str(r).splitlines()[0][:160])
        for node, r in found.items()
    }
