"""Guest clocks after a resume or a restore: a VM brought back from saved memory wakes with the
clock it was saved with, behind the host by however long it slept. Each guest is measured over
SSH (its time against the host's midpoint of the round trip) and stepped with `date -s` when
it is off by more than a threshold (the box has no NTP client: nothing else would fix it).

The fallback for a VM the QEMU guest agent cannot reach (labctl.lab.wakeclocks tries the agent
first). The pure decision, `offset` and `needs_step`, is in labctl.lab.vms.guestclock;
`step_clocks` here is the SSH I/O."""

from __future__ import annotations

import time
from collections.abc import Callable

from labctl.lab.nodes.ssh import CommandResult, SessionResult, run_parallel
from labctl.lab.vms.guestclock import MAX_STEPS, ClockReading, needs_step, offset


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
        return ClockReading(node, 0.0, None, f"cannot read its clock: {result.stderr.strip()[:120]}", via="ssh")
    before = offset(sent, guest, back)
    if not needs_step(before):
        return ClockReading(node, before, None, via="ssh")
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
            return ClockReading(node, before, None, f"date -s failed: {result.stderr.strip()[:120]}", via="ssh")
        after = offset(sent, stepped, back)
        if not needs_step(after):
            break
    return ClockReading(node, before, after, via="ssh")


def step_clocks(sessions: dict[str, SessionResult]) -> dict[str, ClockReading]:
    """Every node's clock measured and stepped, all at once."""

    def one(node: str, opened: SessionResult) -> ClockReading:
        session = opened.get()
        return measure_and_step(node, lambda argv, sudo: session.run(argv, sudo=sudo, timeout=30))

    found = run_parallel(sessions, one)
    return {
        node: r
        if isinstance(r, ClockReading)
        else ClockReading(node, 0.0, None, str(r).splitlines()[0][:160], via="ssh")
        for node, r in found.items()
    }
