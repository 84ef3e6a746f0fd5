"""A node's commands through its QEMU guest agent (guest-exec), with no SSH: the way to a guest
just woken from saved memory (resume, snapshot restore). Under emulation an SSH handshake to a
woken guest costs seconds (sshd's process, key exchange and login on a CPU the six guests share
and whose translated code the wake threw away); the agent is already running in the guest and
starts one process per command.

Commands run as root (the agent's user) whether sudo is asked or not, with a fixed environment;
stdin goes along base64-encoded in the request (input-data), and the output comes back with the
exit status. A command is started, then its status asked for every POLL_S through one open
virsh (labctl.lab.vms.virshshell) until it exits or its timeout passes (then it is reported as
not finished: the agent cannot stop it)."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from labctl.lab.nodes.ssh import CommandFailed, CommandResult, SshError, command_line
from labctl.lab.vms.guestagent import (
    AgentReplyError,
    Call,
    ExecStatus,
    agent_command,
    exec_status,
    parse_pid,
    parse_status,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

SHELL = "/bin/sh"
# The agent's own environment is systemd's for a service: no HOME, no locale. Commands get
# what a root login would have.
ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8"]
POLL_S = 0.03  # a status through an open virsh costs milliseconds
NOT_FINISHED = 124  # as timeout(1) says it
CALL_TIMEOUT_S = 15.0  # one agent request, a woken guest's wait for the CPU included
# stdin travels inside the request's one line: 120 KB of it took 0.6 s, 400 KB left the agent
# unable to answer for seconds. labctl's largest (a node's configuration as a tar) is ~20 KB.
MAX_STDIN = 64 * 1024


class AgentError(SshError):
    """The agent could not start a command, or lost it: the node cannot be reached this way."""


def exec_request(dom: str, command: str, stdin: bytes | None) -> list[str]:
    """guest-exec of `sh -c COMMAND` with STDIN, its output captured."""
    arguments: dict[str, object] = {"path": SHELL, "arg": ["-c", command], "env": ENV, "capture-output": True}
    if stdin:
        arguments["input-data"] = base64.b64encode(stdin).decode()
    return agent_command(dom, "guest-exec", arguments)


def result_of(node: str, argv: list[str] | str, command: str, status: ExecStatus, seconds: float) -> CommandResult:
    """An exited command's CommandResult: a signal's end is 128 + its number, as a shell says."""
    if status.exitcode is not None:
        rc = status.exitcode
    else:
        rc = 128 + (status.signal or 0)
    stderr = status.stderr + ("\n(output cut at the agent's limit)" if status.truncated else "")
    return CommandResult(node, argv, rc, status.stdout, stderr, seconds, command)


class AgentShell:
    """A NodeShell on NODE (libvirt domain DOM) through the guest agent; CALL runs one virsh
    command (an open virsh shell of the node's own, so a slow guest holds nobody else up)."""

    def __init__(self, node: str, dom: str, call: Call, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
        self.node = node
        self.dom = dom
        self._call = call
        self._clock = clock
        self._sleep = sleep

    def run(
        self,
        argv: list[str] | str,
        sudo: bool = False,
        timeout: float = 600.0,
        check: bool = False,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """ARGV in the guest, as root (SUDO changes nothing); CommandFailed on rc != 0 when CHECK.
        An agent that cannot start or follow the command raises AgentError."""
        command = command_line(argv)
        log.debug("%s (agent)$ %s", self.node, command)
        if stdin is not None and len(stdin) > MAX_STDIN:
            too_many = f"{len(stdin)} bytes of input are more than the guest agent takes ({MAX_STDIN})"
            raise AgentError(f"{self.node}: {too_many}")
        started = self._clock()
        pid = self._ask(exec_request(self.dom, command, stdin), parse_pid, "did not start the command")
        deadline = started + timeout
        while True:
            status = self._ask(exec_status(self.dom, pid), parse_status, "lost the command")
            if status.exited:
                result = result_of(self.node, argv, command, status, self._clock() - started)
                break
            if self._clock() >= deadline:
                why = f"not finished after {timeout:g} s (it may still run in the guest)"
                result = CommandResult(self.node, argv, NOT_FINISHED, "", why, self._clock() - started, command)
                break
            self._sleep(POLL_S)
        if check and result.rc != 0:
            raise CommandFailed(result)
        return result

    def _ask(self, request: list[str], parse: Callable[[str], T], failing: str) -> T:
        """One agent request, its reply parsed; AgentError (saying the agent FAILING) otherwise."""
        out, error = self._call(request, CALL_TIMEOUT_S)
        try:
            if error is not None:
                raise AgentReplyError(error)
            return parse(out)
        except AgentReplyError as exc:
            raise AgentError(f"{self.node}: the guest agent {failing}: {exc}") from exc
