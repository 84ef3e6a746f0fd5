"""The engine against an in-memory LabAccess: steps in order, and cleanup whatever happens."""

from __future__ import annotations

import json
import threading
import time

import pytest

from labctl.lab.nodes.ssh import CommandResult
from labctl.lab.runtime import Capability, WithoutOptional
from labctl.model.lab import reference_lab
from labctl.scenario.engine import Engine
from labctl.scenario.loader import parse_scenario


class FakeStream:
    def __init__(self, says: tuple[str, ...] = ()) -> None:
        self._stopped = threading.Event()
        self.says = says

    def __iter__(self):
        if self.says:  # a command that answers at once (and ends)
            return iter(self.says)
        self._stopped.wait(10)
        return iter(())

    def stop(self) -> None:
        self._stopped.set()

    @property
    def returncode(self):
        return 0 if self._stopped.is_set() else None


class FakeLab(WithoutOptional):
    """Records every call; `ipvsadm -L --timeout` answers the kernel defaults."""

    capabilities = frozenset({Capability.SERVICES})

    def __init__(self) -> None:
        self.lab = reference_lab()
        self.calls: list[tuple] = []
        self.streams: list[FakeStream] = []

    def run(self, node, argv, sudo=True, timeout=60.0):
        self.calls.append(("run", node, argv if isinstance(argv, str) else " ".join(argv)))
        text = argv if isinstance(argv, str) else " ".join(argv)
        out = f"{time.time():.9f}\n" if text.startswith("date") else ""
        if "--timeout" in text:
            out = "Timeout (tcp tcpfin udp): 900 120 300\n"
        return CommandResult(node, argv, 0, out, "", 0.0, text)

    def stream(self, node, argv, sudo=False):
        self.calls.append(("stream", node))
        # The fake nodes have no tcpdump: the in-node packet capture fails at once, as on a
        # box without it, and the run goes on without packets.
        text = argv if isinstance(argv, str) else " ".join(argv)
        stream = FakeStream(("sh: 1: exec: tcpdump: not found",) if "tcpdump" in text else ())
        self.streams.append(stream)
        return stream

    def put(self, node, path, content, mode=0o644, sudo=True):
        self.calls.append(("put", node, path))
        return True

    def power_off(self, node):
        self.calls.append(("power_off", node))

    def power_on(self, node):
        self.calls.append(("power_on", node))

    def service(self, node, unit, op):
        self.calls.append(("service", node, unit, op))


SCENARIO = """\
description: break things, then fail
steps:
  - capture: {role: balancer}
  - action: ipvs-timeouts
    target: b1
    tcpfin: 10
  - action: power-off
    target: {master_of: VI_2}
    as: victim
  - action: keepalived-kill
    target: b3
  - wait_until: {holder: VI_2, count: 5}
    timeout: 0.3
    fail: true
  - action: power-on
    target: victim
  - expect: never reached
    metric: requests.total
    min: 1
"""


def test_a_failed_step_still_puts_every_node_back(tmp_path):
    access = FakeLab()
    scenario = parse_scenario(SCENARIO, "t.yaml", {}, access.lab)
    engine = Engine(access, scenario, tmp_path / "out")
    engine.run()
    assert engine.error and "t.yaml:12: wait_until" in engine.error
    actions = [c for c in access.calls if c[0] in ("power_off", "power_on", "service")]
    # b2 is VI_2's elected master (no captures arrived); cleanup powers it on and restarts
    # keepalived on b3, power first.
    assert actions == [
        ("power_off", "b2"),
        ("service", "b3", "keepalived", "kill"),
        ("power_on", "b2"),
        ("service", "b3", "keepalived", "start"),
    ]
    restored = [c for c in access.calls if c[0] == "run" and "--set" in c[2]]
    assert restored[-1] == ("run", "b1", "ipvsadm --set 900 120 300")
    assert all(s.returncode == 0 for s in access.streams)  # every stream stopped
    events = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in events][-1] == "end"
    assert {e["action"] for e in events if e["kind"] == "cleanup"} == {"power-on", "keepalived-start", "ipvs-timeouts"}
    info = json.loads((tmp_path / "out" / "run.json").read_text())
    assert info["error"] == engine.error and info["expectations"][0]["name"] == "never reached"


def test_an_undone_action_is_not_undone_again(tmp_path):
    access = FakeLab()
    text = SCENARIO.replace("    fail: true\n", "")
    engine = Engine(access, parse_scenario(text, "t.yaml", {}, access.lab), tmp_path / "out")
    engine.run()
    assert engine.error is None
    power = [c for c in access.calls if c[0] in ("power_off", "power_on")]
    assert power == [("power_off", "b2"), ("power_on", "b2")]


def test_stop_request_interrupts_a_wait_and_cleans_up(tmp_path):
    access = FakeLab()
    text = "description: wait long\nsteps:\n  - action: link-down\n    target: b1\n  - wait: 30\n"
    engine = Engine(access, parse_scenario(text, "t.yaml", {}, access.lab), tmp_path / "out")
    threading.Timer(0.2, engine.request_stop).start()
    started = time.monotonic()
    engine.run()
    assert time.monotonic() - started < 5
    assert engine.interrupted
    links = [c[2] for c in access.calls if c[0] == "run" and "link set" in c[2]]
    assert links == ["ip link set eth1 down", "ip link set eth1 up"]


def test_run_with_the_live_view_builds_a_report_even_without_data(tmp_path):
    from labctl.cli.scenario import run_with_view

    access = FakeLab()
    text = (
        "description: short\nsteps:\n  - capture: {role: balancer}\n  - wait: 0.3\n"
        "  - expect: x\n    metric: requests.total\n    min: 1\n"
    )
    summary = run_with_view(access, parse_scenario(text, "t.yaml", {}, access.lab), tmp_path / "out")
    assert summary["passed"] is False
    assert summary["expectations"][0]["reason"] == "0 < 1"
    assert (tmp_path / "out" / "timeline.png").exists()
    assert (tmp_path / "out" / "report.md").exists()


def test_a_capture_that_cannot_start_is_reported_and_the_run_goes_on(tmp_path):
    access = FakeLab()
    text = "description: short\nsteps:\n  - wait: 0.1\n"
    engine = Engine(access, parse_scenario(text, "t.yaml", {}, access.lab), tmp_path / "out")
    engine.run()
    info = json.loads((tmp_path / "out" / "run.json").read_text())
    assert engine.error is None
    assert info["capture"]["ok"] is False
    assert info["capture"]["error"] == "tcpdump on c1: sh: 1: exec: tcpdump: not found"
    assert info["host"]["cores"] and info["host"]["load1_max"] is not None


def test_cleanup_failed_reads_the_runs_events(tmp_path):
    """The journal is kept (for `scenario restore` or the next `up`) when the cleanup said it
    could not undo something, or when the run left no readable events."""
    from labctl.observe import runrecords
    from labctl.scenario import runfiles

    assert runrecords.cleanup_failed(tmp_path)  # no events.jsonl at all
    runfiles.append_event(tmp_path / runrecords.EVENTS, {"t": 1.0, "kind": "action"})
    assert not runrecords.cleanup_failed(tmp_path)
    runfiles.append_event(tmp_path / runrecords.EVENTS, {"t": 2.0, "kind": "cleanup_error", "error": "x"})
    assert runrecords.cleanup_failed(tmp_path)


CONDITIONAL = """\
description: an action only for one method
parameters:
  method: {type: choice, choices: [poweroff, keepalived-stop], default: poweroff}
steps:
  - action: keepalived-kill
    target: b3
    when: ${method} == keepalived-stop
  - action: power-off
    target: b1
    when: ${method} != keepalived-stop
"""


@pytest.mark.parametrize(("method", "done", "skipped"), [
    ("keepalived-stop", [("service", "b3", "keepalived", "kill")], ["not applicable (keepalived-stop != keepalived-stop)"]),
    ("poweroff", [("power_off", "b1")], ["not applicable (poweroff == keepalived-stop)"]),
])  # fmt: skip
def test_an_action_whose_when_does_not_hold_is_skipped_and_said(tmp_path, method, done, skipped):
    access = FakeLab()
    scenario = parse_scenario(CONDITIONAL, "t.yaml", {"method": method}, access.lab)
    Engine(access, scenario, tmp_path / "out").run()
    acted = [c for c in access.calls if c[0] in ("power_off", "power_on", "service")]
    assert acted[:1] == done and len(acted) == 2  # the action, then cleanup's undo
    events = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    assert [e["reason"] for e in events if e["kind"] == "skipped"] == skipped
