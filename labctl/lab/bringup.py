"""`labctl up`: box, sandbox, render, vagrant up, parallel SSH provisioning, verification."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from labctl.errors import LabctlError
from labctl.lab import afterwake
from labctl.lab.host.lablog import log_to_lab
from labctl.lab.nodes import hosthttp, verify
from labctl.lab.nodes.provision import NodeReport, provision_node, quick_check
from labctl.lab.nodes.snapshot import read_node_state
from labctl.lab.nodes.ssh import CommandFailed, SshConfigError, SshError, run_parallel
from labctl.lab.providers.libvirt import driver
from labctl.lab.running import RunInfo, RunningLab
from labctl.lab.suspend import ResumeResult, resume, saved_nodes, words_at_suspend
from labctl.lab.vms.guestclock import ClockReading
from labctl.lab.vms.render import node_files
from labctl.model.lab import Lab
from labctl.observe.snapshot import NodeSnapshot
from labctl.resources import provision_dir

RUNNING = "running"
# What a second `up` reads of each node in its one round trip (no root needed for any).
QUICK_SECTIONS = ("hostname", "addr", "ipvsproc", "vrrp", "services")


@dataclass
class UpResult:
    timings: dict[str, float] = field(default_factory=dict)
    reports: dict[str, NodeReport] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    checks: list[verify.Check] = field(default_factory=list)
    vagrant_up_skipped: bool = False
    resume: ResumeResult | None = None  # nodes brought back from a suspend, their clocks

    @property
    def ok(self) -> bool:
        return not self.failures and all(c.ok for c in self.checks)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "timings": self.timings,
            "vagrant_up_skipped": self.vagrant_up_skipped,
            "nodes": {
                n: {"uploaded": r.uploaded, "changes": r.changes, "skipped": r.skipped, "seconds": round(r.seconds, 2)}
                for n, r in self.reports.items()
            },
            "failures": self.failures,
            "checks": [c.to_dict() for c in self.checks],
            "resume": self.resume.to_dict() if self.resume else None,
        }


class _Clock:
    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings

    def __call__(self, name: str):
        clock = self

        class _Span:
            def __enter__(self):
                self.start = time.monotonic()

            def __exit__(self, *exc):
                clock.timings[name] = round(time.monotonic() - self.start, 2)

        return _Span()


class PhaseBoard(Protocol):
    """Where each node's current phase is shown (the CLI draws it; tests may record it)."""

    def set(self, node: str, phase: str) -> None: ...

    def shown(self) -> AbstractContextManager[Any]: ...


class UpProgress(Protocol):
    """What the bring-up tells as it goes: a line of news, and a board of per-node phases.
    The lab layer only emits these; `labctl.cli.progress` turns them into rich output."""

    def say(self, text: str) -> None: ...

    def board(self, title: str, nodes: list[str]) -> PhaseBoard: ...


log = logging.getLogger(__name__)


def bring_up(
    lab: Lab,
    lab_path: Path,
    progress: UpProgress,
    verify_timeout: float = 90.0,
    only_nodes: list[str] | None = None,
    run_checks: bool = True,
    run: RunningLab | None = None,
) -> UpResult:
    """The lab up, provisioned and checked. RUN: a caller's open runtime (a snapshot restore
    has just opened every node's session for the clocks: reusing them saves a round of SSH
    handshakes, seconds under emulation); the caller closes it. Otherwise one of its own."""
    result = UpResult()
    clock = _Clock(result.timings)
    started = time.monotonic()
    lab, choice = driver.settle(lab)  # `auto` becomes kvm or qemu on this host
    if choice is not None:
        progress.say(choice.line)
    owned = run is None
    if run is None:
        run = RunningLab.for_lab(lab, lab_path)
    run.lab = lab
    run.check_prerequisites()
    run.state.ensure()
    log_to_lab(run.state.logs_dir, run.state.folder)
    log.info("up %s: nodes %s", lab.name, ", ".join(only_nodes or [n.name for n in lab.nodes]))
    RunInfo.of(lab).save(run.state)
    names = only_nodes or [n.name for n in lab.nodes]
    if run.host is not None:
        try:
            _host_up(run, lab, names, progress, result, clock, verify_timeout, run_checks)
        finally:
            _finish(run, lab, result, started, owned)
        return result
    try:
        with clock("box"):
            run.ensure_box(progress=lambda phase: progress.say(f"box: {phase}"))
        with clock("sandbox"):
            run.start_sandbox()
            run.seed_box_volume()
        with clock("render"):
            ctx = run.render()
        _after_an_interrupted_up(run, progress)
        with clock("resume"):
            result.resume = _resume_suspended(run, names, progress)
            woke = None
            if result.resume is not None and result.resume.resumed:
                recorded = words_at_suspend(run, result.resume.resumed)
                woke = afterwake.read_vrrp_meanwhile(run, lab, recorded)  # judged against after the checks
                afterwake.flush_host_neighbours(run, lab)
        _up_and_provision(run, lab, ctx, names, progress, result)
        with clock("verify"):
            if run_checks and not result.failures:
                result.checks = _verify(run, lab, ctx, names, progress, result, verify_timeout)
                if woke is not None:
                    result.checks += afterwake.wake_checks(run, lab, woke.result())
    finally:
        if result.resume is not None:
            _say_clocks(result.resume.wait_for_clocks(), progress)  # its steps use the runtime
        _finish(run, lab, result, started, owned)
    return result


def _finish(run: RunningLab, lab: Lab, result: UpResult, started: float, owned: bool) -> None:
    """Every up's end, failed or not: its own runtime closed, the timings logged and kept in
    logs/last-up.json."""
    if owned:
        run.close()
    result.timings["total"] = round(time.monotonic() - started, 2)
    log.info("up %s: %s; timings %s", lab.name, "failed: " + ", ".join(result.failures) if result.failures
             else "done", result.timings)  # fmt: skip
    run.state.logs_dir.mkdir(parents=True, exist_ok=True)
    (run.state.logs_dir / "last-up.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")


def _host_up(
    run: RunningLab,
    lab: Lab,
    names: list[str],
    progress: UpProgress,
    result: UpResult,
    clock: _Clock,
    verify_timeout: float,
    run_checks: bool,
) -> None:
    """`up` of a lab whose provider brings its nodes up itself (netns): the nodes' files rendered
    as for VMs, handed to the provider's LabHost, then its checks until they pass."""
    assert run.host is not None
    host = run.host
    result.vagrant_up_skipped = True
    with clock("render"):
        ctx = run.render()
        files = {n.name: node_files(lab, n, ctx) for n in lab.nodes}
    with clock("nodes"):
        reports, failures = host.up(lab, files, progress.say)
    result.reports.update({n: r for n, r in reports.items() if n in names})
    result.failures.update(failures)
    for name, report in reports.items():
        log.info("%s: %s", name, report.summary())
    with clock("verify"):
        if run_checks and not result.failures:
            result.checks = verify.wait_for_checks(lambda: host.checks(lab), timeout=verify_timeout)


# Vagrant's last line for a node in `vagrant up --no-provision`: that VM is done. (Starting at
# its "Machine booted and ready!", seconds earlier, was tried: the provisioning then ran on the
# CPU the last VMs needed to boot, and `labctl up` took 127.6 s against 100.3 s, bench/up.py.)
NODE_DONE = "Machine not provisioned because"


def provision_while_booting(cores: int, vms: int) -> bool:
    """Whether to provision each node as soon as Vagrant is done with it, while the others still
    boot: only with a core to spare for it. On fewer cores than booting VMs the provisioning
    takes the CPU the last VMs need, and the whole `up` ends later (bench/up.py, 2 cores, six
    VMs: 81.5 s provisioning as VMs came, 77.8 s provisioning once all were up)."""
    return cores > vms


def _up_and_provision(run: RunningLab, lab: Lab, ctx, names: list[str], progress: UpProgress, result: UpResult) -> None:
    """`vagrant up`, then provisioning every node over SSH at once; on a host with a core to
    spare per VM, each node as soon as Vagrant is done with it (provision_while_booting)."""
    board = progress.board("vagrant up and provisioning", names)
    early = provision_while_booting(os.cpu_count() or 1, len(names))
    pool = ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="provision")
    jobs: dict[str, Future] = {}
    vagrant_done = threading.Event()
    up_started = time.monotonic()

    # On a lab that was already running, the provisioning round trip ends with a snapshot of the
    # node: the checks are judged from it, with no second round trip.
    result.vagrant_up_skipped = _all_running(run, names) and not run.vagrant.unfinished_up()
    sections = QUICK_SECTIONS if result.vagrant_up_skipped else ()

    def provision(name: str) -> NodeReport:
        board.set(name, "connecting")
        wait = 60.0 if result.vagrant_up_skipped else 300.0
        # An SSH session, or the guest agent's shell for a VM just woken (RunningLab.use_agent).
        try:
            opened = run.shells([name], wait=wait)[name]
        except (SshConfigError, LabctlError):
            # `vagrant ssh-config` may answer nothing while `vagrant up` is still busy with
            # other machines: ask again once it is done.
            board.set(name, "waiting for vagrant up to finish")
            vagrant_done.wait()
            opened = run.shells([name], wait=wait)[name]
        files = node_files(lab, lab.node(name), ctx)
        report = quick_check(opened.get(), files, sections) if sections else None
        if report is None:
            report = provision_node(
                opened.get(), files, on_phase=lambda phase: board.set(name, phase), snapshot_sections=sections
            )
        board.set(name, report.summary())
        log.info("provisioned %s: %s", name, report.summary())
        return report

    def start(name: str) -> None:
        if name in names and name not in jobs:
            jobs[name] = pool.submit(provision, name)

    def on_line(node: str, text: str) -> None:
        # The indented domain details are log material; and once a node is being provisioned,
        # its phase is provisioning's (Vagrant may repeat its last line for a running VM).
        if text.startswith(" ") or node in jobs:
            return
        if text.startswith(NODE_DONE):
            if early:
                start(node)
                return
            text = "up; provisioned once every VM is up (fewer cores than VMs)"
        board.set(node, text[:70])

    try:
        with board.shown():
            try:
                # When every VM runs, Vagrant would only re-check each one (seconds per node).
                if not result.vagrant_up_skipped:
                    run.vagrant.up(names, on_line=on_line)
            finally:
                vagrant_done.set()
                if run.sandbox is not None:
                    run.sandbox.bridges_without_stp()  # a VM booted later forwards at once
            result.timings["vagrant_up"] = round(time.monotonic() - up_started, 2)
            tail_started = time.monotonic()
            for name in names:  # nodes Vagrant had nothing to do for
                start(name)
            wait(jobs.values())
            result.timings["provision_after_up"] = round(time.monotonic() - tail_started, 2)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for name, job in jobs.items():
        error = job.exception()
        if error is None:
            result.reports[name] = job.result()
        else:
            result.failures[name] = _one_line(error)
    reports = result.reports.values()
    result.timings["provision"] = round(max((r.seconds for r in reports), default=0.0), 2)


def _after_an_interrupted_up(run: RunningLab, progress: UpProgress) -> None:
    """What a labctl killed in the middle of `up` left: its vagrant is stopped, and this up runs
    `vagrant up` again even if every VM runs (one of them may still be booting)."""
    for what in run.vagrant.stop_leftovers():
        progress.say(f"stopped a `vagrant {what}` left running by an earlier labctl")
    if run.vagrant.unfinished_up():
        progress.say("the last `vagrant up` did not finish: running it again")


def _resume_suspended(run: RunningLab, names: list[str], progress: UpProgress) -> ResumeResult | None:
    """Nodes `labctl suspend` saved come back from their saved memory (seconds), not from a
    boot; their clocks are stepped to the host's while the lab is checked. One that cannot is
    left to `vagrant up`."""
    saved = saved_nodes(run, names) if run.sandbox is not None else []
    if not saved:
        return None
    progress.say(f"resuming {', '.join(saved)} from saved memory")
    done = resume(run, saved)
    for node, error in done.failed.items():
        progress.say(f"{node} did not resume ({error}): vagrant up starts it")
    progress.say(f"resumed in {done.seconds:.1f} s; clocks being stepped while the lab is checked")
    return done


def _say_clocks(clocks: dict[str, ClockReading], progress: UpProgress) -> None:
    jumps = ", ".join(c.step_words() for c in clocks.values() if c.after_s is not None)
    if jumps:
        progress.say(f"clocks stepped: {jumps}")
    for node, reading in clocks.items():
        if reading.error:
            progress.say(f"{node}: clock not stepped: {reading.error}")


def _all_running(run: RunningLab, names: list[str]) -> bool:
    running = run.running_domains()
    if running is not None:
        return set(names) <= running and run.has_machine_ids(names)
    # A healthy lab: vagrant up would only re-check every VM (seconds per node).
    statuses = {s.name: s.state for s in run.vagrant.status(names)}
    return all(statuses.get(n) == RUNNING for n in names)


def _one_line(exc: BaseException) -> str:
    """The cause in one line: for a failed command, what it was and its last error line."""
    if isinstance(exc, CommandFailed):
        lines = [line for line in exc.result.stderr.strip().splitlines() if line.strip()]
        if lines:
            return f"{str(exc).splitlines()[0]}: {lines[-1].strip()}"
        # A shell script stopped by `set -e` says nothing: where it got to is its last output.
        out = [line for line in exc.result.stdout.strip().splitlines() if line.strip()]
        after = f" (no error message; its last output: {out[-1].strip()})" if out else ""
        return f"{str(exc).splitlines()[0]}{after}"
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def gather_views(run: RunningLab, names: list[str]) -> dict[str, NodeSnapshot | BaseException]:
    shells = run.shells(names, wait=20.0)
    return run_parallel(shells, lambda name, opened: read_node_state(opened.get()))


def _verify(
    run: RunningLab, lab: Lab, ctx, names: list[str], progress: UpProgress, result: UpResult, timeout: float
) -> list[verify.Check]:
    """The lab's checks. After a round trip that found every node as it was provisioned, they
    are judged from the snapshots that round trip brought back; if those show a node not as
    planned, the nodes the failed checks point at are provisioned again for real, then the lab is
    checked the long way."""
    reports = [result.reports.get(n) for n in names]
    if reports and all(r is not None and r.snapshot is not None and not r.changed for r in reports):
        views = {n: r.snapshot for n, r in result.reports.items() if r.snapshot is not None}
        checks = quick_checks(lab, views)
        if all(c.ok for c in checks):
            checks += http_check(run, lab)
            if all(c.ok for c in checks):
                return checks
        failed = "; ".join(f"{c.node}: {c.detail}" for c in checks if not c.ok)
        again = _to_provision_again(lab, checks, [r.node for r in reports if r is not None and r.skipped])
        progress.say(f"not as planned ({failed[:200]}): provisioning {', '.join(again)} again")
        log.info("quick checks failed (%s): provisioning %s again", failed, ", ".join(again))
        _reprovision(run, lab, ctx, again, result)
        if result.failures:
            return checks
    return check_lab(run, lab, timeout=timeout)


def _to_provision_again(lab: Lab, checks: list[verify.Check], skipped: list[str]) -> list[str]:
    """The nodes a failed quick check points at: a node's own check names it, an IPVS table its
    balancer, a VIP held wrongly every balancer; a failed HTTP check could be anyone's."""
    nodes: set[str] = set()
    for check in checks:
        if check.ok:
            continue
        if check.name in ("node", "ipvs table") and check.node:
            nodes.add(check.node)
        elif check.name.startswith("vip "):
            nodes |= {b.name for b in lab.balancers}
        else:
            nodes |= set(skipped)
    return [n for n in skipped if n in nodes]


def quick_checks(lab: Lab, views: dict[str, NodeSnapshot]) -> list[verify.Check]:
    balancers = {b.name: views[b.name] for b in lab.balancers if b.name in views}
    checks = verify.evaluate_nodes(lab, views) + verify.evaluate_vips(lab, balancers)
    return checks + verify.evaluate_ipvs(lab, balancers)


def _reprovision(run: RunningLab, lab: Lab, ctx, nodes: list[str], result: UpResult) -> None:
    shells = run.shells(nodes, wait=60.0)
    done = run_parallel(
        shells, lambda name, opened: provision_node(opened.get(), node_files(lab, lab.node(name), ctx), force=True)
    )
    for name, outcome in done.items():
        if isinstance(outcome, BaseException):
            result.failures[name] = _one_line(outcome)
            result.reports.pop(name, None)  # its quick check's "unchanged" no longer holds
        else:
            result.reports[name] = outcome


def http_check(run: RunningLab, lab: Lab, requests_per_vip: int = 6) -> list[verify.Check]:
    """HTTP through each VIP: from the host side of the lab network when the lab has a namespace
    (the emulated client pays nothing), else from the client."""
    if run.namespace is not None:
        rows = hosthttp.http_rows(run.namespace, [v.address for v in lab.vips], lab.ipvs.port, requests_per_vip)
        return verify.evaluate_http(lab, "host", rows)
    client = lab.clients[0].name
    opened = run.sessions([client], wait=20.0)[client]
    if opened.session is None:
        return [verify.Check("http", client, False, f"cannot reach the client: {opened.why()}")]
    session = opened.session
    script = (provision_dir() / "client" / "http-check.sh").read_bytes()
    vips = [v.address for v in lab.vips]
    out = session.run(["sh", "-s", str(requests_per_vip), *vips], stdin=script, timeout=120)
    return verify.evaluate_http(lab, client, verify.parse_http_lines(out.stdout))


def check_lab(run: RunningLab, lab: Lab, timeout: float) -> list[verify.Check]:
    balancers = [b.name for b in lab.balancers]

    def gather() -> list[verify.Check]:
        views = gather_views(run, balancers)
        good = {n: v for n, v in views.items() if not isinstance(v, BaseException)}
        checks = [verify.Check("ssh", n, False, _one_line(v)) for n, v in views.items() if isinstance(v, BaseException)]
        checks += verify.evaluate_vips(lab, good) + verify.evaluate_ipvs(lab, good)
        if all(c.ok for c in checks):
            checks += http_check(run, lab)
        return checks

    try:
        return verify.wait_for_checks(gather, timeout=timeout)
    except SshError as exc:
        raise LabctlError(f"verification could not reach the nodes: {exc}") from exc
