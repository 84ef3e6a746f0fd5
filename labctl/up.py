"""`labctl up`: box, sandbox, render, vagrant up, parallel SSH provisioning, verification."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from labctl import verify
from labctl.errors import LabctlError
from labctl.lab import Lab
from labctl.labrun import RunInfo, RunningLab
from labctl.nodestate import read_node_state
from labctl.progress import NodeBoard
from labctl.provision import NodeReport, provision_node
from labctl.render import node_files
from labctl.resources import provision_dir
from labctl.ssh import CommandFailed, SshError, SshSession, run_parallel

RUNNING = "running"


@dataclass
class UpResult:
    timings: dict[str, float] = field(default_factory=dict)
    reports: dict[str, NodeReport] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    checks: list[verify.Check] = field(default_factory=list)
    vagrant_up_skipped: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures and all(c.ok for c in self.checks)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "timings": self.timings,
            "vagrant_up_skipped": self.vagrant_up_skipped,
            "nodes": {n: {"uploaded": r.uploaded, "changes": r.changes, "seconds": r.seconds}
                      for n, r in self.reports.items()},
            "failures": self.failures,
            "checks": [c.to_dict() for c in self.checks],
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


def bring_up(lab: Lab, lab_path: Path, console: Console, verify_timeout: float = 90.0,
             only_nodes: list[str] | None = None, run_checks: bool = True) -> UpResult:
    result = UpResult()
    clock = _Clock(result.timings)
    started = time.monotonic()
    run = RunningLab.for_lab(lab, lab_path)
    run.check_prerequisites()
    run.state.ensure()
    RunInfo.of(lab).save(run.state)
    names = only_nodes or [n.name for n in lab.nodes]
    try:
        with clock("box"):
            run.ensure_box(progress=lambda phase: console.print(f"box: {phase}", highlight=False))
        with clock("sandbox"):
            run.start_sandbox()
        with clock("render"):
            ctx = run.render()
        with clock("vagrant_up"):
            _vagrant_up(run, names, console, result)
        with clock("provision"):
            _provision(run, lab, ctx, names, console, result)
        with clock("verify"):
            if run_checks and not result.failures:
                result.checks = check_lab(run, lab, timeout=verify_timeout)
    finally:
        run.close()
        result.timings["total"] = round(time.monotonic() - started, 2)
        (run.state.logs_dir).mkdir(parents=True, exist_ok=True)
        (run.state.logs_dir / "last-up.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def _vagrant_up(run: RunningLab, names: list[str], console: Console, result: UpResult) -> None:
    running = run.running_domains()
    if running is not None and set(names) <= running and run.has_machine_ids(names):
        result.vagrant_up_skipped = True
        return
    statuses = {s.name: s.state for s in run.vagrant.status()}
    if all(statuses.get(n) == RUNNING for n in names):
        # A healthy lab: vagrant up would only re-check every VM (seconds per node).
        result.vagrant_up_skipped = True
        return
    board = NodeBoard("vagrant up", names, console)
    with board.shown():
        run.vagrant.up(None if set(names) == set(statuses) else names,
                       on_line=lambda node, text: _vagrant_phase(board, node, text))


def _vagrant_phase(board: NodeBoard, node: str, text: str) -> None:
    # Vagrant's phase lines; the indented domain details (" -- Memory: ...") are log material.
    if not text.startswith(" "):
        board.set(node, text[:70])


def _provision(run: RunningLab, lab: Lab, ctx, names: list[str], console: Console,
               result: UpResult) -> None:
    board = NodeBoard("provisioning over SSH", names, console)
    with board.shown():
        for name in names:
            board.set(name, "connecting")
        # Freshly booted VMs may take minutes to answer; ones that were running should not.
        sessions = run.sessions(names, wait=60.0 if result.vagrant_up_skipped else 300.0)

        def work(name: str, session: SshSession | BaseException) -> NodeReport:
            if isinstance(session, BaseException):
                raise session
            files = node_files(lab, lab.node(name), ctx)
            report = provision_node(session, files, on_phase=lambda phase: board.set(name, phase))
            board.set(name, report.summary())
            return report

        outcomes = run_parallel(sessions, work)
    for name, outcome in outcomes.items():
        if isinstance(outcome, NodeReport):
            result.reports[name] = outcome
        else:
            result.failures[name] = _one_line(outcome)


def _one_line(exc: BaseException) -> str:
    """The cause in one line: for a failed command, what it was and its last error line."""
    if isinstance(exc, CommandFailed):
        lines = [l for l in exc.result.stderr.strip().splitlines() if l.strip()]
        last = f": {lines[-1].strip()}" if lines else ""
        return f"{str(exc).splitlines()[0]}{last}"
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def gather_views(run: RunningLab, names: list[str]) -> dict[str, object]:
    sessions = run.sessions(names, wait=20.0)
    return run_parallel(sessions, lambda name, s: read_node_state(s) if isinstance(s, SshSession) else _raise(s))


def _raise(exc: BaseException):
    raise exc


def http_check(run: RunningLab, lab: Lab, requests_per_vip: int = 6) -> list[verify.Check]:
    client = lab.clients[0].name
    session = run.sessions([client], wait=20.0)[client]
    if isinstance(session, BaseException):
        return [verify.Check("http", client, False, f"cannot reach the client: {_one_line(session)}")]
    script = (provision_dir() / "client" / "http-check.sh").read_bytes()
    vips = [v.address for v in lab.vips]
    out = session.run(["sh", "-s", str(requests_per_vip), *vips], stdin=script, timeout=120)
    return verify.evaluate_http(lab, client, verify.parse_http_lines(out.stdout))


def check_lab(run: RunningLab, lab: Lab, timeout: float) -> list[verify.Check]:
    balancers = [b.name for b in lab.balancers]

    def gather() -> list[verify.Check]:
        views = gather_views(run, balancers)
        good = {n: v for n, v in views.items() if not isinstance(v, BaseException)}
        checks = [verify.Check("ssh", n, False, _one_line(v)) for n, v in views.items()
                  if isinstance(v, BaseException)]
        checks += verify.evaluate_vips(lab, good) + verify.evaluate_ipvs(lab, good)
        if all(c.ok for c in checks):
            checks += http_check(run, lab)
        return checks

    try:
        return verify.wait_for_checks(gather, timeout=timeout)
    except SshError as exc:
        raise LabctlError(f"verification could not reach the nodes: {exc}") from exc
