"""Guest clocks after a resume or a restore, stepped to the host's: through each VM's QEMU guest
agent first (no SSH: labctl.lab.vms.guestagent), over SSH for the VMs it cannot reach (no agent
channel: a lab made before labctl's box had one, or another box; labctl.lab.nodes.clockstep).

The VMs the agent served keep it for the checks that follow the wake (RunningLab.use_agent): a
woken guest answers the agent in a fraction of a second, an SSH handshake in seconds."""

from __future__ import annotations

import logging

from labctl.lab.nodes import clockstep
from labctl.lab.running import RunningLab
from labctl.lab.vms import guestagent, vmstate
from labctl.lab.vms.guestclock import ClockReading

log = logging.getLogger(__name__)


def step_clocks(run: RunningLab, nodes: list[str]) -> dict[str, ClockReading]:
    """Every node's clock read and, when off, stepped; each reading says how (agent or SSH)."""
    if not nodes:
        return {}
    readings: dict[str, ClockReading] = {}
    left = list(nodes)
    if run.sandbox is not None and run.info.provider == "libvirt":
        domains = {n: vmstate.domain(run.info.name, n) for n in nodes}
        readings, left = guestagent.step_clocks({n: run.virsh_shell(n).call for n in nodes}, domains)
        run.use_agent([n for n in nodes if n not in left])
        if left:
            log.info("clocks: no guest agent on %s, stepped over SSH", left)
    if left:
        opened = run.sessions(left, 60.0)
        readings.update(clockstep.step_clocks({n: opened[n] for n in left}))
    return {n: readings[n] for n in nodes if n in readings}
