"""Guest clocks through the QEMU guest agent, with no SSH: libvirt passes each command to the
agent on the VM's virtio port (`virsh qemu-agent-command`), so a guest just back from saved
memory needs no SSH round trip (2-3 of them per guest over SSH, seconds under emulation).

Per guest: read its clock (guest-get-time) against the host's as the virsh call returns (see
reading_offset); when it is off by more than AGENT_THRESHOLD_S, move its clock by that offset
(guest-exec of GNU date: relative to its own clock, so it does not matter when the guest gets to
it), wait until that exited (guest-exec-status), read again; at most MAX_STEPS steps, as over SSH. A VM without an agent
(no channel in its domain: a lab made before the box had one, or another box) is handed back
for the SSH way (labctl.lab.nodes.clockstep).

The argv builders, reply parsers and the stepping loop are pure (the loop's virsh is injected);
`begin` runs it through each node's open virsh."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from labctl.errors import LabctlError
from labctl.lab.vms.guestclock import MAX_STEPS, ClockReading, needs_step

log = logging.getLogger(__name__)

AGENT_TIMEOUT_S = 5  # virsh's --timeout: whole seconds, and a busy emulated guest answers in less
VIRSH_TIMEOUT_S = 15.0  # virsh itself, connection and libvirt's guest-sync included
EXEC_WAIT_S = 5.0  # the step has exited by then, or the step is reported failed
EXEC_POLL_S = 0.05
# Tighter than over SSH: a round through the agent costs a fraction of a second and runs while
# the checks' SSH sessions open, so a step that landed late (the first the step on a guest just
# woken waits its turn for the CPU: 1-2 s measured, 0.4 s left behind) is simply taken again.
AGENT_THRESHOLD_S = 0.1
DATE = "/bin/date"
# The guest's clock moved by DELTA from its own reading: GNU date takes a relative time with a
# fractional second, reads the clock as it parses it and sets it microseconds later. A step to an
# absolute host time lands late by however long the guest takes to start it (0-0.5 s measured on
# woken TCG guests, and never the same twice); a step by an offset does not care. date, not
# python3: a woken guest starts it in a fraction of python3's time (1-2.5 s there, six at once).
SHIFT = "{delta:+.6f} seconds"

# libvirt's words when a domain has no agent to talk to: no channel in its XML ("argument
# unsupported: QEMU guest agent is not configured"), an agent not (or no longer) listening
# ("Guest agent is not responding: ..."), or one that refuses guest-exec. The SSH way can still
# step such a guest.
NO_AGENT = (
    "argument unsupported",
    "guest agent is not configured",
    "guest agent is not connected",
    "guest agent is not responding",
    "guest agent is not available",
    "guest agent not available",
    "guest agent disappeared",
    "has been disabled",
)


def no_agent(error: str) -> bool:
    """Whether virsh's ERROR means the agent cannot be used here (fall back to SSH), not that
    the guest failed."""
    text = error.lower()
    return any(marker in text for marker in NO_AGENT)


# --- virsh argument lists (after `virsh -q -c URI`) --------------------------------------------


def agent_command(dom: str, execute: str, arguments: dict[str, object] | None = None) -> list[str]:
    request: dict[str, object] = {"execute": execute}
    if arguments is not None:
        request["arguments"] = arguments
    text = json.dumps(request, separators=(",", ":"))
    return ["qemu-agent-command", dom, text, "--timeout", str(AGENT_TIMEOUT_S)]


def get_time(dom: str) -> list[str]:
    """The guest's clock, nanoseconds since the epoch."""
    return agent_command(dom, "guest-get-time")


def shift_args(delta_s: float) -> list[str]:
    return ["-s", SHIFT.format(delta=delta_s)]


def exec_shift(dom: str, delta_s: float) -> list[str]:
    """Start moving the guest's clock by DELTA_S; the agent answers with its pid at once."""
    return agent_command(dom, "guest-exec", {"path": DATE, "arg": shift_args(delta_s), "capture-output": True})


def exec_status(dom: str, pid: int) -> list[str]:
    return agent_command(dom, "guest-exec-status", {"pid": pid})


# --- what the agent answers (as virsh prints it: the reply's JSON on one line) ------------------


class AgentReplyError(LabctlError, ValueError):
    """A reply that is not what the command returns (or virsh's error, carried to the step's
    reading)."""


def returned(text: str) -> object:
    """The "return" member of the agent's reply; AgentReplyError for anything else."""
    try:
        reply = json.loads(text)
    except ValueError:
        raise AgentReplyError(f"the agent's reply is not JSON: {text.strip()[:80]!r}") from None
    if not isinstance(reply, dict) or "return" not in reply:
        raise AgentReplyError(f"the agent's reply has no return: {text.strip()[:80]!r}")
    return reply["return"]


def parse_time(text: str) -> float:
    """guest-get-time's nanoseconds, as seconds since the epoch."""
    value = returned(text)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise AgentReplyError(f"guest-get-time returned {value!r}, not nanoseconds")
    whole, ns = divmod(value, 1_000_000_000)  # the nanoseconds alone: value / 1e9 rounds them
    return whole + ns / 1e9


def parse_pid(text: str) -> int:
    value = returned(text)
    pid = value.get("pid") if isinstance(value, dict) else None
    if isinstance(pid, bool) or not isinstance(pid, int):
        raise AgentReplyError(f"guest-exec returned {value!r}, not a pid")
    return pid


@dataclass(frozen=True)
class ExecStatus:
    exited: bool
    exitcode: int | None = None  # None while running, or when a signal ended it
    stderr: str = ""
    stdout: str = ""
    signal: int | None = None
    truncated: bool = False  # the agent kept only the first 16 MiB of an output


def parse_status(text: str) -> ExecStatus:
    value = returned(text)
    if not isinstance(value, dict) or not isinstance(value.get("exited"), bool):
        raise AgentReplyError(f"guest-exec-status returned {value!r}")
    code, signal = value.get("exitcode"), value.get("signal")
    return ExecStatus(
        value["exited"],
        code if isinstance(code, int) else None,
        _decoded(value.get("err-data")),
        _decoded(value.get("out-data"), strip=False),
        signal if isinstance(signal, int) else None,
        bool(value.get("out-truncated") or value.get("err-truncated")),
    )


def _decoded(data: object, strip: bool = True) -> str:
    if not isinstance(data, str):
        return ""
    try:
        text = base64.b64decode(data).decode(errors="replace")
    except (binascii.Error, ValueError):
        return ""
    return text.strip() if strip else text


# --- the stepping loop (virsh injected) ---------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One node's virsh run: its output, its error (None: it succeeded), the host's clock when it
    was started and when it ended."""

    out: str
    error: str | None
    sent: float
    back: float


Send = Callable[[dict[str, list[str]]], dict[str, Reply]]


def reading_offset(guest_epoch: float, back: float) -> float:
    """The guest's clock minus the host's, for a reading that came back at BACK. Not the round
    trip's middle, as over SSH: most of a virsh call is before the request leaves (the process,
    its connection to libvirtd, libvirt's guest-sync, a woken guest's turn for the CPU), and the
    agent answers as it reads its clock. The middle left guests 0.3-0.4 s behind after a step."""
    return guest_epoch - back


@dataclass
class _Guest:
    dom: str
    before: float | None = None
    off: float = 0.0  # the last reading's offset: what the next step takes away
    steps: int = 0


@dataclass
class _Stepper:
    send: Send
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    guests: dict[str, _Guest]
    readings: dict[str, ClockReading] = field(default_factory=dict)
    fallback: list[str] = field(default_factory=list)

    def done(self, node: str, after: float | None, error: str | None = None) -> None:
        before = self.guests[node].before
        self.readings[node] = ClockReading(node, before or 0.0, after, error, via="agent")

    def failed(self, node: str, what: str, error: str) -> None:
        log.info("%s: %s through the guest agent: %s", node, what, error)
        if no_agent(error):
            self.fallback.append(node)
        else:
            self.done(node, None, f"{what}: {error[:120]}")

    def read(self, nodes: list[str]) -> list[str]:
        """Every node's offset; the nodes still off (and with steps left) to step."""
        replies = self.send({n: get_time(self.guests[n].dom) for n in nodes}) if nodes else {}
        off_still: list[str] = []
        for node, reply in replies.items():
            guest = self.guests[node]
            try:
                if reply.error is not None:
                    raise AgentReplyError(reply.error)
                now = reading_offset(parse_time(reply.out), reply.back)
            except AgentReplyError as exc:
                self.failed(node, "cannot read its clock", str(exc))
                continue
            guest.off = now
            if guest.before is None:
                guest.before = now
                if not needs_step(now, AGENT_THRESHOLD_S):
                    self.done(node, None)
                    continue
            elif not needs_step(now, AGENT_THRESHOLD_S) or guest.steps >= MAX_STEPS:
                self.done(node, now)
                continue
            off_still.append(node)
        return off_still

    def step(self, nodes: list[str]) -> dict[str, int]:
        """the step started in every node of NODES; node -> its pid in the guest."""
        if not nodes:
            return {}
        commands = {n: exec_shift(self.guests[n].dom, -self.guests[n].off) for n in nodes}
        started: dict[str, int] = {}
        for node, reply in self.send(commands).items():
            try:
                if reply.error is not None:
                    raise AgentReplyError(reply.error)
                started[node] = parse_pid(reply.out)
            except AgentReplyError as exc:
                self.failed(node, "the clock step failed", str(exc))
                continue
            self.guests[node].steps += 1
        return started

    def wait(self, pids: dict[str, int]) -> list[str]:
        """The nodes whose the step exited well, asked every EXEC_POLL_S up to EXEC_WAIT_S."""
        deadline = self.clock() + EXEC_WAIT_S
        stepped: list[str] = []
        pending = dict(pids)
        while pending:
            replies = self.send({n: exec_status(self.guests[n].dom, pid) for n, pid in pending.items()})
            for node, reply in replies.items():
                try:
                    if reply.error is not None:
                        raise AgentReplyError(reply.error)
                    status = parse_status(reply.out)
                except AgentReplyError as exc:
                    self.failed(node, "the clock step failed", str(exc))
                    del pending[node]
                    continue
                if not status.exited:
                    continue
                del pending[node]
                if status.exitcode == 0:
                    stepped.append(node)
                else:
                    how = "was killed" if status.exitcode is None else f"exited {status.exitcode}"
                    self.done(node, None, f"the clock step {how}: {status.stderr[:120]}")
            if pending and self.clock() >= deadline:
                for node in pending:
                    self.done(node, None, f"the clock step did not finish in {EXEC_WAIT_S:g} s")
                break
            if pending:
                self.sleep(EXEC_POLL_S)
        return stepped


Finish = Callable[[], tuple[dict[str, ClockReading], list[str]]]


def begin_stepping(
    domains: dict[str, str],
    send: Send,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[str], Finish]:
    """Every node of DOMAINS (node -> domain) read once, at once: the nodes whose agent answered,
    and a function that steps and reads them the rest of the way (the caller may run it in a
    thread while it uses the agents too): the readings, and the nodes the agent could not do."""
    stepper = _Stepper(send, clock, sleep, {n: _Guest(dom) for n, dom in domains.items()})
    active = stepper.read(list(domains))
    answered = [n for n, guest in stepper.guests.items() if guest.before is not None]

    def finish() -> tuple[dict[str, ClockReading], list[str]]:
        nonlocal active
        while active:
            active = stepper.read(stepper.wait(stepper.step(active)))
        readings = {n: stepper.readings[n] for n in domains if n in stepper.readings}
        return readings, [n for n in domains if n in stepper.fallback]

    return answered, finish


def step_guest_clocks(
    domains: dict[str, str],
    send: Send,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[dict[str, ClockReading], list[str]]:
    """Every node of DOMAINS read and, when off, stepped, all nodes at once in each phase: the
    readings of the nodes the agent did, and the nodes it could not (for SSH)."""
    return begin_stepping(domains, send, clock, sleep)[1]()


Call = Callable[[list[str], float], tuple[str, str | None]]  # virsh ARGS -> (output, error)


def begin(calls: dict[str, Call], domains: dict[str, str]) -> tuple[list[str], Finish]:
    """begin_stepping with CALLS (node -> its own open virsh, labctl.lab.vms.virshshell),
    every node's request at once."""

    def one(node: str, args: list[str]) -> Reply:
        sent = time.time()
        out, error = calls[node](args, VIRSH_TIMEOUT_S)
        return Reply(out, error, sent, time.time())

    def send(commands: dict[str, list[str]]) -> dict[str, Reply]:
        with ThreadPoolExecutor(max_workers=len(commands), thread_name_prefix="labctl-agent") as pool:
            futures = {n: pool.submit(one, n, args) for n, args in commands.items()}
            return {n: f.result() for n, f in futures.items()}

    return begin_stepping(domains, send)
