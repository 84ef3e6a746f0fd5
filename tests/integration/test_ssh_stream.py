"""SshSession.stream against a real sshd in a namespace: lines arrive as they are printed, and
stop() ends the remote process (the pseudo-terminal hangs up)."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from labctl.lab.host import netns
from labctl.lab.nodes.ssh import SshSession

pytestmark = pytest.mark.integration


@pytest.fixture
def node(lab_segment, sshd, tmp_path: Path):
    segment = lab_segment({"web1": "10.10.1.11/24"}, bridge_address="10.10.1.1/24")
    server = sshd(segment.ns("web1"), segment.address("web1"))
    with SshSession.connect(server.target("web1"), segment.bridge_ns, tmp_path / "known_hosts", wait=20) as session:
        yield segment, session


def _running(ns: str, marker: str) -> list[int]:
    found = []
    for pid in netns.pids_in(ns):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except FileNotFoundError:
            continue
        if marker in cmdline:
            found.append(pid)
    return found


def test_lines_arrive_while_the_command_runs(node):
    _segment, session = node
    stream = session.stream("for i in 1 2 3; do echo line$i; sleep 0.2; done")
    arrivals = []
    for line in stream:
        arrivals.append((time.monotonic(), line))
    assert [line for _, line in arrivals] == ["line1", "line2", "line3"]
    # Streaming, not buffered until exit: the lines came about 0.2 s apart.
    assert arrivals[2][0] - arrivals[0][0] > 0.25
    assert stream.returncode == 0


def test_stop_kills_the_remote_process(node):
    segment, session = node
    marker = f"labctl-stream-{secrets.token_hex(4)}"
    stream = session.stream(f"sh -c 'while :; do echo {marker}; sleep 0.05; done' {marker}", sudo=False)
    lines = iter(stream)
    assert next(lines) == marker
    assert _running(segment.ns("web1"), marker)
    stream.stop()
    deadline = time.monotonic() + 5
    while _running(segment.ns("web1"), marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _running(segment.ns("web1"), marker) == []
    assert stream.returncode is not None


def test_run_still_works_after_a_stream(node):
    _segment, session = node
    stream = session.stream("echo once")
    assert list(stream) == ["once"]
    assert session.run("echo again").stdout == "again\n"
