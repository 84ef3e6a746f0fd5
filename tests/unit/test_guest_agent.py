"""Guest clocks through the QEMU guest agent: the virsh commands, what the agent's replies say,
when an error means "no agent here" (SSH then), and the stepping loop driven through a fake
virsh. (The fake stands in for libvirt and the agent: the decisions under test are labctl's;
the real agent is met on a lab, tests/e2e/test_snapshots.py.)"""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace

import pytest

from labctl.lab import wakeclocks
from labctl.lab.nodes import clockstep
from labctl.lab.vms import guestagent
from labctl.lab.vms.guestagent import AgentReplyError, Reply
from labctl.lab.vms.guestclock import MAX_STEPS, ClockReading
from labctl.lab.vms.render import BoxRef, RenderContext, render_lab
from labctl.model.initlab import initial_lab

DOM = "labctl-dev-b1"
NOT_CONFIGURED = "argument unsupported: QEMU guest agent is not configured"
NOT_CONNECTED = "Guest agent is not responding: QEMU guest agent is not connected"


def request(argv: list[str]) -> dict:
    assert argv[0] == "qemu-agent-command" and argv[-2:] == ["--timeout", "5"]
    return json.loads(argv[2])


# --- the commands --------------------------------------------------------------------------------


def test_commands_are_one_agent_request_each_with_a_timeout():
    assert guestagent.get_time(DOM) == ["qemu-agent-command", DOM, '{"execute":"guest-get-time"}', "--timeout", "5"]
    assert request(guestagent.exec_shift(DOM, 7.5)) == {
        "execute": "guest-exec",
        "arguments": {
            "path": "/bin/date",
            "arg": ["-s", "+7.500000 seconds"],
            "capture-output": True,
        },
    }
    assert guestagent.shift_args(-85.4)[1] == "-85.400000 seconds"  # GNU date: relative to its own reading
    assert request(guestagent.exec_status(DOM, 42)) == {"execute": "guest-exec-status", "arguments": {"pid": 42}}


# --- the replies ---------------------------------------------------------------------------------


def test_replies_are_read_and_junk_is_refused_in_words():
    assert guestagent.parse_time('{"return":1733160000250000000}\n') == 1733160000.25
    assert guestagent.parse_pid('{"return":{"pid":1234}}') == 1234
    err = base64.b64encode(b"date: cannot set date: Operation not permitted\n").decode()
    status = guestagent.parse_status(f'{{"return":{{"exited":true,"exitcode":1,"err-data":"{err}"}}}}')
    assert status == guestagent.ExecStatus(True, 1, "date: cannot set date: Operation not permitted")
    assert guestagent.parse_status('{"return":{"exited":false}}') == guestagent.ExecStatus(False)
    for junk in ("", "oops", "[1]", '{"error":{"class":"GenericError"}}', '{"return":"x"}', '{"return":true}'):
        with pytest.raises(AgentReplyError, match="guest-get-time returned|the agent's reply"):
            guestagent.parse_time(junk)
    with pytest.raises(AgentReplyError, match="not a pid"):
        guestagent.parse_pid('{"return":{}}')
    with pytest.raises(AgentReplyError, match="guest-exec-status returned"):
        guestagent.parse_status('{"return":{"exitcode":0}}')


def test_only_a_missing_agent_sends_a_node_to_ssh():
    for error in (
        NOT_CONFIGURED,
        NOT_CONNECTED,
        "Guest agent is not responding: Guest agent not available for now",
        "Guest agent is not responding: QEMU guest agent is not available due to an error",
        "internal error: unable to execute QEMU agent command 'guest-exec': The command guest-exec has been disabled",
    ):
        assert guestagent.no_agent(error), error
    for error in (
        "Requested operation is not valid: domain is not running",
        "internal error: unable to execute QEMU agent command 'guest-exec': Failed to execute child process",
        "virsh did not answer in 15 s",
        "the agent's reply is not JSON: 'oops'",
    ):
        assert not guestagent.no_agent(error), error


def test_a_reading_says_how_the_clock_was_stepped():
    assert ClockReading("b1", -300.0, 0.01, via="agent").to_dict() == {
        "before_s": -300.0,
        "after_s": 0.01,
        "error": None,
        "via": "agent",
    }
    assert ClockReading("b1", 0.1, None).to_dict()["via"] == "ssh"


# --- the stepping loop ---------------------------------------------------------------------------


class FakeAgents:
    """Guests behind libvirt, each AHEAD seconds off the host's clock. Every batch of virsh runs
    (one per node, at once) takes 0.2 s of host time; the guest acts at its end, as measured
    on woken TCG guests (the call's time goes to virsh, libvirtd and the guest's turn for the
    CPU before the agent reads or forks anything)."""

    def __init__(self, ahead: dict[str, float], host: list[float]) -> None:
        self.ahead = {f"labctl-dev-{n}": a for n, a in ahead.items()}
        self.host = host
        self.errors: dict[str, str] = {}  # domain -> virsh's error for every command
        self.replies: dict[tuple[str, str], str] = {}  # (domain, command) -> this reply instead
        self.late: dict[str, list[float]] = {}  # domain -> seconds each next step lands late
        self.polls_running = 1  # guest-exec-status says "running" this many times first
        self.batches: list[dict[str, str]] = []  # node -> command, per batch
        self.pids: dict[int, tuple[str, int]] = {}  # pid -> (domain, polls so far)

    def send(self, commands: dict[str, list[str]]) -> dict[str, Reply]:
        self.batches.append({n: request(argv)["execute"] for n, argv in commands.items()})
        sent = self.host[0]
        back = sent + 0.2
        replies = {}
        for node, argv in commands.items():
            dom, asked = argv[1], request(argv)
            out, error = self.answer(dom, asked, back)
            replies[node] = Reply(out, error, sent, back)
        self.host[0] = back
        return replies

    def answer(self, dom: str, asked: dict, now: float) -> tuple[str, str | None]:
        if dom in self.errors:
            return "", self.errors[dom]
        execute, arguments = asked["execute"], asked.get("arguments", {})
        if (dom, execute) in self.replies:
            return self.replies[dom, execute], None
        if execute == "guest-get-time":
            return json.dumps({"return": int(round((now + self.ahead[dom]) * 1e9))}), None
        if execute == "guest-exec":
            assert arguments["path"] == "/bin/date" and arguments["arg"][0] == "-s"
            late = self.late.get(dom, [])
            # Relative to the guest's own clock; LATE: a step that falls short (it cannot land
            # late: when it runs does not matter).
            delta = float(arguments["arg"][1].removesuffix(" seconds"))
            self.ahead[dom] += delta - (late.pop(0) if late else 0.0)
            pid = 100 + len(self.pids)
            self.pids[pid] = (dom, 0)
            return json.dumps({"return": {"pid": pid}}), None
        if execute == "guest-exec-status":
            dom, polls = self.pids[arguments["pid"]]
            self.pids[arguments["pid"]] = (dom, polls + 1)
            if polls < self.polls_running:
                return '{"return":{"exited":false}}', None
            return '{"return":{"exited":true,"exitcode":0}}', None
        raise AssertionError(execute)


def run_loop(agents: FakeAgents, nodes: list[str]) -> tuple[dict[str, ClockReading], list[str], list[float]]:
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        agents.host[0] += seconds

    readings, fallback = guestagent.step_guest_clocks(
        {n: f"labctl-dev-{n}" for n in nodes}, agents.send, clock=lambda: agents.host[0], sleep=sleep
    )
    return readings, fallback, slept


def test_guests_are_stepped_through_the_agent_all_at_once_and_one_on_time_is_left():
    host = [1000.0]
    agents = FakeAgents({"b1": -300.0, "b2": 0.05, "r1": -299.5}, host)
    readings, fallback, slept = run_loop(agents, ["b1", "b2", "r1"])
    assert fallback == []
    assert list(readings) == ["b1", "b2", "r1"]
    for node in ("b1", "r1"):
        assert readings[node].via == "agent" and readings[node].error is None
        assert readings[node].after_s is not None and abs(readings[node].after_s) < 0.01
    assert round(readings["b1"].before_s, 3) == -300.0
    assert readings["b2"].after_s is None and round(readings["b2"].before_s, 3) == 0.05
    # One batch per phase: all read, the two off stepped, polled until exited, read again.
    assert agents.batches == [
        {"b1": "guest-get-time", "b2": "guest-get-time", "r1": "guest-get-time"},
        {"b1": "guest-exec", "r1": "guest-exec"},
        {"b1": "guest-exec-status", "r1": "guest-exec-status"},
        {"b1": "guest-exec-status", "r1": "guest-exec-status"},
        {"b1": "guest-get-time", "r1": "guest-get-time"},
    ]
    assert slept == [guestagent.EXEC_POLL_S]


def test_the_first_reading_says_which_agents_answer_before_any_clock_is_stepped():
    """begin_stepping reads once (the caller then runs its checks through those agents) and
    leaves the steps to the function it returns."""
    host = [1000.0]
    agents = FakeAgents({"b1": -300.0, "r1": -300.0, "c1": 0.02}, host)
    agents.errors = {"labctl-dev-r1": NOT_CONNECTED}
    answered, finish = guestagent.begin_stepping(
        {n: f"labctl-dev-{n}" for n in ("b1", "r1", "c1")}, agents.send, clock=lambda: host[0], sleep=lambda s: None
    )
    assert answered == ["b1", "c1"]
    assert agents.batches == [{"b1": "guest-get-time", "r1": "guest-get-time", "c1": "guest-get-time"}]
    readings, fallback = finish()
    assert fallback == ["r1"] and readings["b1"].after_s is not None and readings["c1"].after_s is None
    assert agents.batches[1] == {"b1": "guest-exec"}


def test_nodes_without_an_agent_are_handed_back_for_ssh():
    host = [1000.0]
    agents = FakeAgents({"b1": -300.0, "r1": -300.0, "r2": -300.0}, host)
    agents.errors = {"labctl-dev-r1": NOT_CONFIGURED, "labctl-dev-r2": NOT_CONNECTED}
    readings, fallback, _ = run_loop(agents, ["b1", "r1", "r2"])
    assert fallback == ["r1", "r2"] and list(readings) == ["b1"]


def test_a_step_that_lands_late_is_taken_again_and_never_more_than_max_steps():
    host = [1000.0]
    agents = FakeAgents({"b1": -300.0, "b2": -300.0}, host)
    agents.late = {"labctl-dev-b1": [1.0], "labctl-dev-b2": [1.0] * 10}
    readings, _, _ = run_loop(agents, ["b1", "b2"])
    steps = [sum(1 for b in agents.batches if b.get(n) == "guest-exec") for n in ("b1", "b2")]
    assert steps == [2, MAX_STEPS]
    assert abs(readings["b1"].after_s or 9) < 0.01
    assert readings["b2"].after_s == pytest.approx(-1.0, abs=0.01) and readings["b2"].error is None


def test_agent_failures_are_reported_per_node_not_sent_to_ssh():
    host = [1000.0]
    agents = FakeAgents({"b1": -300.0, "b2": -300.0, "r1": -300.0}, host)
    err = base64.b64encode(b"date: cannot set date: Operation not permitted").decode()
    agents.replies = {
        ("labctl-dev-b1", "guest-get-time"): "oops",
        ("labctl-dev-b2", "guest-exec-status"): f'{{"return":{{"exited":true,"exitcode":1,"err-data":"{err}"}}}}',
    }
    agents.errors = {"labctl-dev-r1": "Requested operation is not valid: domain is not running"}
    readings, fallback, _ = run_loop(agents, ["b1", "b2", "r1"])
    assert fallback == []
    assert readings["b1"].error == "cannot read its clock: the agent's reply is not JSON: 'oops'"
    assert readings["b2"].error == "the clock step exited 1: date: cannot set date: Operation not permitted"
    assert round(readings["b2"].before_s) == -300 and readings["b2"].after_s is None
    assert readings["r1"].error == "cannot read its clock: Requested operation is not valid: domain is not running"
    assert all(r.via == "agent" for r in readings.values())


def test_a_date_that_never_exits_is_waited_for_a_bounded_time():
    host = [1000.0]
    agents = FakeAgents({"b1": -300.0}, host)
    agents.polls_running = 10_000
    readings, _, slept = run_loop(agents, ["b1"])
    assert readings["b1"].error == f"the clock step did not finish in {guestagent.EXEC_WAIT_S:g} s"
    # Each poll is 0.2 s of virsh plus the pause: about EXEC_WAIT_S / 0.25 polls.
    assert 15 <= len(slept) <= 25


# --- agent first, SSH for the rest ---------------------------------------------------------------


def test_ssh_steps_only_the_nodes_the_agent_could_not(monkeypatch):
    asked: dict[str, object] = {}
    run = SimpleNamespace(
        sandbox=object(),
        info=SimpleNamespace(name="dev", provider="libvirt"),
        sessions=lambda nodes, wait: asked.setdefault("sessions", {n: f"session of {n}" for n in nodes}),
        virsh_shell=lambda node: SimpleNamespace(call=f"virsh of {node}"),
        use_agent=lambda nodes: asked.setdefault("agent shells", nodes),
    )

    def by_agent(calls, domains):
        asked["domains"] = domains
        asked["calls"] = calls
        return ["b1"], lambda: ({"b1": ClockReading("b1", -300.0, 0.01, via="agent")}, ["r1"])

    monkeypatch.setattr(guestagent, "begin", by_agent)

    def by_ssh(sessions):
        asked["stepped over ssh"] = sessions
        return {n: ClockReading(n, -300.0, 0.02, via="ssh") for n in sessions}

    monkeypatch.setattr(clockstep, "step_clocks", by_ssh)
    readings = wakeclocks.step_clocks(run, ["r1", "b1"])
    # Each node's agent through its own open virsh; an SSH session only for the node the agent
    # could not serve; the checks after the wake go through the agent where it served.
    assert asked["domains"] == {"r1": "labctl-dev-r1", "b1": "labctl-dev-b1"}
    assert asked["calls"] == {"r1": "virsh of r1", "b1": "virsh of b1"}
    assert list(asked["sessions"]) == ["r1"] and asked["stepped over ssh"] == {"r1": "session of r1"}
    assert asked["agent shells"] == ["b1"]
    assert [(n, r.via) for n, r in readings.items()] == [("r1", "ssh"), ("b1", "agent")]
    # A lab without a sandbox of its own: SSH for all, the agent not asked.
    asked.clear()
    run.sandbox = None
    assert [r.via for r in wakeclocks.step_clocks(run, ["b1"]).values()] == ["ssh"]
    assert "domains" not in asked and "agent shells" not in asked
    assert asked["stepped over ssh"] == {"b1": "session of b1"}


# --- the channel in the Vagrantfile --------------------------------------------------------------


def test_only_labctl_s_own_box_gets_the_agent_channel():
    channel = 'lv.channel :type => "unix", :target_name => "org.qemu.guest_agent.0", :target_type => "virtio"'
    lab = initial_lab(provider="libvirt", driver="qemu", box="local")

    def vagrantfile(box: BoxRef, lab=lab) -> str:
        files = render_lab(lab, RenderContext(box=box, auth_pass="abcd1234"))
        return next(f.content for f in files if f.path == "Vagrantfile")

    local = vagrantfile(BoxRef("labctl/debian12", kernel="/k", initrd="/i", local=True))
    assert local.count(channel) == 1 and "lv.qemu_use_agent =" not in local
    assert channel not in vagrantfile(BoxRef("debian/bookworm64", kernel="/k", initrd="/i"))
    assert "lv.channel" not in vagrantfile(BoxRef("debian/bookworm64"), lab=initial_lab())
