"""`labctl suspend` and the resume half of `labctl up`: each VM's memory saved to disk by
libvirt's managed save (inside the lab's sandbox, under its state folder) and the VM stopped;
`virsh start` later restores that image instead of booting. All VMs at once: paused together
before the saves, let go together after the restores, so the lab stops and wakes as one moment."""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from labctl.errors import LabctlError
from labctl.lab import afterwake
from labctl.lab.host.sandbox import Sandbox
from labctl.lab.running import RunningLab
from labctl.lab.vms import vmstate
from labctl.lab.vms.guestclock import ClockReading
from labctl.lab.vms.virshall import error_of, virsh_all
from labctl.lab.wakeclocks import step_clocks_meanwhile

log = logging.getLogger(__name__)

SAVED = "saved"  # `virsh list --all --managed-save`'s state for a suspended domain
SLEEP_WORDS = "vrrp-at-suspend.json"  # the balancers' VRRP state words as `suspend` found them


def sandbox_of(run: RunningLab, what: str) -> Sandbox:
    """The lab's sandbox, started; a lab without one is refused (its libvirt is the host's, or
    it is VirtualBox's)."""
    if run.sandbox is None or run.info.provider != "libvirt":
        raise LabctlError(
            f"{what} needs a lab in a sandbox of its own (provider libvirt, isolation: netns)",
            fix="`labctl down` halts any lab; `up` boots it again",
        )
    run.start_sandbox()
    return run.sandbox


@dataclass
class SuspendResult:
    suspended: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # node -> why (not running, ...)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def suspend(run: RunningLab, nodes: list[str]) -> SuspendResult:
    """Managed save of every running VM of NODES, all at once."""
    sandbox = sandbox_of(run, "suspend")
    result = SuspendResult()
    states = run.domain_states() or {}
    running = [n for n in nodes if states.get(n) == "running"]
    for node in nodes:
        if node not in running:
            result.skipped[node] = states.get(node, "not created")
    # The balancers' state words as they go to sleep: the resume judges against these, so a
    # transition right at its wake is seen too.
    asleep = [b for b in run.lab.balancers if b.name in running] if run.lab is not None else []
    words = afterwake.read_vrrp(run, run.lab, asleep) if run.lab is not None and asleep else {}
    run.state.write(SLEEP_WORDS, json.dumps(afterwake.words_record(words), indent=2) + "\n", 0o644)
    started = time.monotonic()
    for node in running:
        run.drop_session(node)  # its TCP connections would not survive the sleep anyway
    # All paused at once first, then saved: six managed saves pause their VMs up to seconds apart
    # (each its own libvirt job), and a backup balancer that ran on after its master stopped
    # woke with its VRRP timer nearly spent: it took over at the wake (seen after a resume).
    domains = {n: vmstate.domain(run.info.name, n) for n in running}
    paused = virsh_all(sandbox, {n: vmstate.pause(dom) for n, dom in domains.items()})
    done = virsh_all(sandbox, {n: vmstate.managed_save(dom) for n, dom in domains.items()})
    result.seconds = round(time.monotonic() - started, 2)
    for node, proc in done.items():
        error = error_of(proc)
        if error is None:
            result.suspended.append(node)
        else:
            result.failed[node] = error
            if error_of(paused[node]) is None:
                virsh_all(sandbox, {node: vmstate.resume(domains[node])})  # not saved: let it run on
    log.info("suspend: %s in %.1f s; failed %s", result.suspended, result.seconds, result.failed)
    return result


@dataclass
class ResumeResult:
    resumed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    clocks: dict[str, ClockReading] = field(default_factory=dict)  # once wait_for_clocks returned
    stepping: Future[dict[str, ClockReading]] | None = None  # the clocks' steps, under way
    seconds: float = 0.0  # from the first `virsh start` to every VM running and its clock read once
    start_s: float = 0.0  # the `virsh start`s alone (memory read back)

    def wait_for_clocks(self) -> dict[str, ClockReading]:
        """The clocks' readings, once their steps (which run while the lab is checked) are done."""
        if self.stepping is not None:
            self.clocks = self.stepping.result()
            self.stepping = None
        return self.clocks

    def to_dict(self) -> dict[str, object]:
        return {
            "resumed": self.resumed,
            "failed": self.failed,
            "clocks": {n: c.to_dict() for n, c in self.clocks.items()},
            "seconds": self.seconds,
            "start_s": self.start_s,
        }


def let_go(run: RunningLab, sandbox: Sandbox, domains: dict[str, str]) -> dict[str, str | None]:
    """Resume DOMAINS' paused VMs (node -> domain) all at once, the lab's bridges first made to
    forward from new ports at once; node -> virsh's error or None."""
    quieted = sandbox.bridges_without_stp()  # a resume's qemu is new, and so is its tap
    if quieted:
        log.info("spanning tree off on %s", ", ".join(quieted))
    done = virsh_all(sandbox, {n: vmstate.resume(dom) for n, dom in domains.items()})
    return {n: error_of(proc) for n, proc in done.items()}


def words_at_suspend(run: RunningLab, nodes: list[str]) -> afterwake.Words:
    """What `suspend` recorded of NODES' state words (nothing for a node it did not suspend)."""
    try:
        record = json.loads(run.state.read(SLEEP_WORDS) or "{}")
    except ValueError:
        return {}
    return {n: words for n, words in afterwake.words_from_record(record).items() if n in nodes}


def saved_nodes(run: RunningLab, names: list[str]) -> list[str]:
    states = run.domain_states() or {}
    return [n for n in names if states.get(n) == SAVED]


def resume(run: RunningLab, nodes: list[str]) -> ResumeResult:
    """Restore NODES from their managed save images at once; their clocks' steps start (see
    ResumeResult.wait_for_clocks)."""
    result = ResumeResult()
    if not nodes:
        return result
    sandbox = sandbox_of(run, "resume")
    started = time.monotonic()
    # Each VM read back paused, then all let go at once: six `virsh start`s end up to seconds
    # apart, and a backup balancer woken that much before its master took over VI_1 and gave
    # it back (a spurious VRRP transition, seen after a resume).
    domains = {n: vmstate.domain(run.info.name, n) for n in nodes}
    done = virsh_all(sandbox, {n: vmstate.start(dom, paused=True) for n, dom in domains.items()})
    loaded = [n for n, proc in done.items() if error_of(proc) is None]
    resumed = let_go(run, sandbox, {n: domains[n] for n in loaded})
    result.start_s = round(time.monotonic() - started, 2)
    for node in nodes:
        error = error_of(done[node]) or resumed.get(node)
        if error is None:
            result.resumed.append(node)
        else:
            result.failed[node] = error
    if result.resumed:
        result.stepping = step_clocks_meanwhile(run, result.resumed)
    result.seconds = round(time.monotonic() - started, 2)
    log.info("resume: %s in %.1f s; failed %s", result.resumed, result.seconds, result.failed)
    return result
