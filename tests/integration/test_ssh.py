"""labctl.lab.nodes.ssh against a real OpenSSH server living in a network namespace.

Layout: a lab segment 10.10.1.0/24 whose bridge namespace (10.10.1.1, the "host side" of a
libvirt network) is where labctl's sockets are opened; sshd runs in the node namespaces.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from labctl.lab.nodes.ssh import (
    CommandFailed,
    CommandTimeout,
    HostKeyMismatch,
    SshSession,
    SshUnreachable,
    failures,
    forget_host,
    run_parallel,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def segment(lab_segment):
    return lab_segment({"web1": "10.10.1.11/24", "web2": "10.10.1.12/24"}, bridge_address="10.10.1.1/24")


@pytest.fixture
def known_hosts(tmp_path: Path) -> Path:
    return tmp_path / "state" / "known_hosts"


@pytest.fixture
def web1(segment, sshd, known_hosts):
    server = sshd(segment.ns("web1"), segment.address("web1"))
    with SshSession.connect(server.target("web1"), segment.bridge_ns, known_hosts, wait=20) as session:
        yield session


def test_the_lab_address_is_not_reachable_from_the_root_namespace(segment):
    # The segment must not leak into the root namespace: no route to 10.10.1.0/24 there.
    import subprocess

    routes = subprocess.run(["ip", "route", "show", "10.10.1.0/24"], capture_output=True, text=True, check=True).stdout
    assert routes.strip() == ""
    assert "10.10.1.11/24" in segment.run("web1", ["ip", "-br", "addr"]).stdout


def test_run_returns_rc_stdout_stderr(web1):
    result = web1.run("echo out; echo err >&2; exit 3")
    assert (result.rc, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert result.node == "web1" and not result.ok and result.duration >= 0


def test_list_argv_reaches_the_program_word_for_word(web1):
    awkward = ["two words", "it's", 'say "hi"', "$HOME", "`id`", "a;b", "*", ""]
    result = web1.run(["printf", "[%s]\\n", *awkward], check=True)
    assert result.stdout.splitlines() == [f"[{word}]" for word in awkward]


def test_sudo_runs_shell_text_as_root_with_quoting_intact(web1):
    result = web1.run(["sh", "-c", 'echo "$(id -u)" "$1"', "sh", "it's $HOME"], sudo=True, check=True)
    assert result.stdout == "0 it's $HOME\n"
    assert web1.run("id -un | tr a-z A-Z", sudo=True).stdout == "ROOT\n"


def test_check_raises_with_the_result(web1):
    with pytest.raises(CommandFailed) as caught:
        web1.run(["sh", "-c", "echo boom >&2; exit 7"], check=True)
    assert caught.value.result.rc == 7
    assert "web1" in str(caught.value) and "boom" in str(caught.value)


def test_a_command_over_its_timeout_raises_with_partial_output(web1):
    with pytest.raises(CommandTimeout) as caught:
        web1.run("echo started; sleep 30", timeout=1.0)
    assert caught.value.stdout == "started\n" and "web1" in str(caught.value)


def test_a_background_child_holding_stdout_does_not_hang_run(web1):
    # Like starting a daemon by hand: the shell exits, the child keeps stdout open.
    assert web1.run("sleep 30 & echo launched").stdout == "launched\n"


def test_stdin_is_delivered(web1):
    data = b"line one\n" * 20000  # bigger than one SSH window
    result = web1.run(["wc", "-c"], stdin=data, check=True)
    assert int(result.stdout) == len(data)


@pytest.mark.parametrize("sudo", [False, True])
def test_put_is_idempotent(web1, tmp_path, sudo):
    path = f"{tmp_path}/remote/{'sudo' if sudo else 'plain'}/app.conf"
    content = "listen 80;\nserver_name 'x' \"y\" $host;\n"
    assert web1.put(path, content, mode=0o640, sudo=sudo) is True
    assert web1.put(path, content, mode=0o640, sudo=sudo) is False
    assert Path(path).read_text() == content
    assert Path(path).stat().st_mode & 0o7777 == 0o640
    # A mode change alone is a change; so is new content.
    assert web1.put(path, content, mode=0o600, sudo=sudo) is True
    assert Path(path).stat().st_mode & 0o7777 == 0o600
    assert web1.put(path, b"\x00binary\xff", mode=0o600, sudo=sudo) is True
    assert Path(path).read_bytes() == b"\x00binary\xff"
    assert not list(Path(path).parent.glob(".labctl-put.*"))  # no temp files left behind


def test_put_failure_names_the_file(web1, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(CommandFailed, match=r"web1: cannot write .*not-a-dir/x\.conf") as caught:
        web1.put(f"{blocker}/x.conf", "secret=1\n")
    assert "secret" not in str(caught.value)  # content is never echoed


def test_host_key_is_pinned_then_a_new_key_is_refused(segment, sshd, known_hosts):
    server = sshd(segment.ns("web1"), segment.address("web1"))
    target = server.target("web1")
    with SshSession.connect(target, segment.bridge_ns, known_hosts, wait=20):
        pass
    assert known_hosts.read_text().startswith("web1,10.10.1.11 ssh-ed25519 ")
    with SshSession.connect(target, segment.bridge_ns, known_hosts, wait=20):
        pass  # same key: accepted

    server.stop()
    server.new_host_key()
    server.start()
    with pytest.raises(HostKeyMismatch) as caught:
        SshSession.connect(target, segment.bridge_ns, known_hosts, wait=20)
    message = str(caught.value)
    assert "web1" in message and str(known_hosts) in message and "labctl destroy" in message

    assert forget_host(known_hosts, "web1") == 1
    with SshSession.connect(target, segment.bridge_ns, known_hosts, wait=20) as session:
        assert session.run("true").ok


def test_connect_waits_for_a_node_that_is_still_booting(segment, sshd, known_hosts):
    server = sshd(segment.ns("web1"), segment.address("web1"), start=False)
    timer = threading.Timer(2.0, server.start)
    timer.start()
    try:
        with SshSession.connect(
            server.target("web1"), segment.bridge_ns, known_hosts, wait=30, interval=0.2
        ) as session:
            assert session.run("echo up").stdout == "up\n"
    finally:
        timer.join()


def test_nothing_listening_is_unreachable_after_the_wait(segment, sshd, known_hosts):
    server = sshd(segment.ns("web2"), segment.address("web2"), start=False)
    with pytest.raises(SshUnreachable) as caught:
        SshSession.connect(server.target("web2"), segment.bridge_ns, known_hosts, wait=1.0, interval=0.2)
    message = str(caught.value)
    assert "web2" in message and "10.10.1.12" in message and "ConnectionRefused" in message


def test_run_parallel_keeps_going_when_one_node_fails(segment, sshd, known_hosts):
    targets = {node: sshd(segment.ns(node), segment.address(node)).target(node) for node in ("web1", "web2")}

    def hostname_then_fail_on_web2(name, target):
        with SshSession.connect(target, segment.bridge_ns, known_hosts, wait=20) as session:
            if name == "web2":
                session.run(["false"], check=True)
            return session.run(["sh", "-c", "ip -4 -o addr show eth0"], check=True).stdout

    results = run_parallel(targets, hostname_then_fail_on_web2)
    assert list(results) == ["web1", "web2"]
    assert "10.10.1.11/24" in results["web1"]
    assert isinstance(results["web2"], CommandFailed)
    assert list(failures(results)) == ["web2"]
    # Both first contacts were pinned, even though they ran at the same time.
    assert sorted(line.split()[0] for line in known_hosts.read_text().splitlines()) == [
        "web1,10.10.1.11",
        "web2,10.10.1.12",
    ]


def test_connect_time_inside_a_namespace(segment, sshd, known_hosts, capsys):
    """Not an assertion on time: prints the measurement for the record (-s to see it)."""
    server = sshd(segment.ns("web1"), segment.address("web1"))
    started = time.monotonic()
    with SshSession.connect(server.target("web1"), segment.bridge_ns, known_hosts) as session:
        connected = time.monotonic()
        for _ in range(10):
            session.run("true")
        ran = time.monotonic()
    with capsys.disabled():
        print(f"\nconnect+auth {connected - started:.3f}s; 10 x run('true') {ran - connected:.3f}s")
