"""Guest clocks after a resume or a restore, stepped to the host's: through each VM's QEMU guest
agent first (no SSH: labctl.lab.vms.guestagent), over SSH for the VMs it cannot reach (no agent
channel: a lab made before labctl's box had one, or another box; labctl.lab.nodes.clockstep)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

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
    # The SSH sessions the checks after a wake need are opened meanwhile (a handshake is about
    # 2 s on a guest just woken under emulation; the agent's steps take a fraction of that).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wake-ssh") as connecting:
        sessions = connecting.submit(run.sessions, list(nodes), 60.0)
        if run.sandbox is not None and run.info.provider == "libvirt":
            domains = {n: vmstate.domain(run.info.name, n) for n in nodes}
            readings, left = guestagent.step_clocks(run.sandbox, domains)
            if left:
                log.info("clocks: no guest agent on %s, stepped over SSH", left)
        opened = sessions.result()
    if left:
        readings.update(clockstep.step_clocks({n: opened[n] for n in left}))
    return {n: readings[n] for n in nodes if n in readings}
