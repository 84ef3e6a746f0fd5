"""Guest clocks after a resume or a restore, stepped to the host's: through each VM's QEMU guest
agent first (no SSH: labctl.lab.vms.guestagent), over SSH for the VMs it cannot reach (no agent
channel: a lab made before labctl's box had one, or another box; labctl.lab.nodes.clockstep).

The VMs whose agent answers keep it for the checks that follow the wake (RunningLab.use_agent):
a woken guest answers the agent in a fraction of a second, an SSH handshake in seconds. The
steps themselves go on while those checks run (nothing the checks read depends on the guests'
wall clocks), and the caller takes their readings when it reports them."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

from labctl.errors import LabctlError
from labctl.lab.nodes import clockstep
from labctl.lab.running import RunningLab
from labctl.lab.vms import guestagent, vmstate
from labctl.lab.vms.guestclock import ClockReading

log = logging.getLogger(__name__)


def step_clocks_meanwhile(run: RunningLab, nodes: list[str]) -> Future[dict[str, ClockReading]]:
    """Every node's clock read once now (which VMs have an agent: RUN's shells on them go
    through it from here), then stepped in a thread of its own; its readings, each saying how
    (agent or SSH), in the future."""
    answered: list[str] = []
    finish: guestagent.Finish | None = None
    if nodes and run.sandbox is not None and run.info.provider == "libvirt":
        domains = {n: vmstate.domain(run.info.name, n) for n in nodes}
        answered, finish = guestagent.begin({n: run.virsh_shell(n).call for n in nodes}, domains)
        run.use_agent(answered)

    def rest() -> dict[str, ClockReading]:
        readings: dict[str, ClockReading] = {}
        fallback: list[str] = []
        if finish is not None:
            readings, fallback = finish()
        left = [n for n in nodes if n not in readings or n in fallback]
        if left:
            log.info("clocks: no guest agent on %s, stepped over SSH", left)
            try:
                opened = run.sessions(left, 60.0)
            except LabctlError as exc:  # no SSH settings from Vagrant: each clock says so
                readings.update({n: ClockReading(n, 0.0, None, f"no SSH session: {exc}", via="ssh") for n in left})
            else:
                readings.update(clockstep.step_clocks({n: opened[n] for n in left}))
        return {n: readings[n] for n in nodes if n in readings}

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wake-clocks")
    future = pool.submit(rest)
    pool.shutdown(wait=False)
    return future


def step_clocks(run: RunningLab, nodes: list[str]) -> dict[str, ClockReading]:
    """Every node's clock read and, when off, stepped, before returning."""
    return step_clocks_meanwhile(run, nodes).result()
