"""Commands through the guest agent (AgentShell) and the open virsh it talks through (VirshShell's
pure half). The agent's replies here are written as libvirt prints them; the real agent is met
in the e2e tier (a restore's checks go through it)."""

from __future__ import annotations

import base64
import json

import pytest

from labctl.lab.nodes import agentshell
from labctl.lab.nodes.agentshell import AgentError, AgentShell
from labctl.lab.nodes.ssh import CommandFailed
from labctl.lab.vms.virshshell import PROMPT, marker_command, reply_of, split_reply


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class FakeAgent:
    """A guest agent behind virsh: guest-exec answers a pid, guest-exec-status says running for
    RUNNING polls, then exited with what FINISH returns."""

    def __init__(self, finish: dict, running: int = 2, start_error: str | None = None) -> None:
        self.finish = finish
        self.running = running
        self.start_error = start_error
        self.requests: list[dict] = []
        self.now = 0.0

    def call(self, args: list[str], timeout: float) -> tuple[str, str | None]:
        assert args[0] == "qemu-agent-command" and args[1] == "labctl-dev-b1"
        request = json.loads(args[2])
        self.requests.append(request)
        if request["execute"] == "guest-exec":
            return ("", self.start_error) if self.start_error else ('{"return":{"pid":77}}', None)
        assert request == {"execute": "guest-exec-status", "arguments": {"pid": 77}}
        if self.running > 0:
            self.running -= 1
            return '{"return":{"exited":false}}', None
        return json.dumps({"return": {"exited": True, **self.finish}}), None

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def shell(agent: FakeAgent) -> AgentShell:
    return AgentShell("b1", "labctl-dev-b1", agent.call, clock=agent.clock, sleep=agent.sleep)


def test_a_command_goes_as_sh_c_with_its_stdin_and_comes_back_with_output_and_status():
    agent = FakeAgent({"exitcode": 3, "out-data": b64("one\ntwo\n"), "err-data": b64("oops\n")})
    result = shell(agent).run(["cat", "/etc/it's here"], sudo=True, stdin=b"input")
    started = agent.requests[0]
    assert started["execute"] == "guest-exec"
    arguments = started["arguments"]
    assert arguments["path"] == "/bin/sh" and arguments["arg"] == ["-c", "cat '/etc/it'\"'\"'s here'"]
    assert base64.b64decode(arguments["input-data"]) == b"input" and arguments["capture-output"] is True
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in arguments["env"]
    # sudo changes nothing: the agent runs commands as root.
    assert "sudo" not in arguments["arg"][1]
    assert (result.rc, result.stdout, result.stderr.strip()) == (3, "one\ntwo\n", "oops")
    assert len(agent.requests) == 1 + 3  # started, two polls while running, one that saw it exit
    with pytest.raises(CommandFailed):
        shell(FakeAgent({"exitcode": 1})).run("false", check=True)


def test_a_command_ended_by_a_signal_reads_as_a_shell_says_it():
    assert shell(FakeAgent({"signal": 9})).run("sleep 100").rc == 137


def test_a_command_still_running_at_its_timeout_is_reported_not_waited_for():
    agent = FakeAgent({"exitcode": 0}, running=10_000)
    result = shell(agent).run("sleep 999", timeout=2.0)
    assert result.rc == agentshell.NOT_FINISHED and "not finished after 2 s" in result.stderr
    assert agent.now == pytest.approx(2.0, abs=agentshell.POLL_S)


def test_an_agent_that_cannot_start_or_follow_a_command_is_an_unreachable_node():
    with pytest.raises(AgentError, match="did not start the command: Guest agent is not connected"):
        shell(FakeAgent({}, start_error="Guest agent is not connected")).run("true")
    broken = FakeAgent({})
    broken.call = lambda args, timeout: (  # type: ignore[method-assign]
        ('{"return":{"pid":77}}', None) if 'guest-exec"' in args[2] else ("", "domain is not running")
    )
    with pytest.raises(AgentError, match="lost the command: domain is not running"):
        shell(broken).run("true")


def test_input_the_agent_cannot_take_in_one_request_is_refused_before_sending():
    agent = FakeAgent({"exitcode": 0})
    with pytest.raises(AgentError, match="more than the guest agent takes"):
        shell(agent).run("cat", stdin=b"x" * (agentshell.MAX_STDIN + 1))
    assert agent.requests == []


# --- the open virsh's replies (pure) -------------------------------------------------------------


def test_the_marker_as_printed_is_not_in_the_line_that_asks_for_it():
    typed, printed = marker_command(7)
    assert printed not in typed and typed.startswith("echo ")


def test_a_reply_ends_at_the_printed_marker_not_at_the_echo_of_its_command():
    typed, marker = marker_command(3)
    buffer = f"{PROMPT}qemu-agent-command d '{{}}'\n{{\"return\":{{}}}}\n{PROMPT}{typed}\n{marker}\n{PROMPT}"
    found = split_reply(buffer, marker)
    assert found is not None
    text, rest = found
    assert rest == PROMPT
    assert reply_of(text) == ('{"return":{}}', None)
    assert split_reply(buffer[: buffer.index(marker) + 3], marker) is None  # not all there yet


def test_virsh_s_error_lines_are_the_reply_s_error():
    text = f"{PROMPT}qemu-agent-command x '{{}}'\nerror: failed to get domain 'x'\n{PROMPT}echo ...\n"
    assert reply_of(text) == ("", "failed to get domain 'x'")
