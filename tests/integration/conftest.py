"""Shared fixtures for integration tests: lab segments in network namespaces, real sshd.

A *lab segment* is what a libvirt network looks like, built from namespaces only:

    <prefix>-br   namespace holding bridge br0 (optionally with an address: the "host side")
    <prefix>-web1 namespace per node, interface eth0 (a veth whose peer is a port of br0)

Lab addresses exist only inside these namespaces; nothing is added to the root namespace.
Everything a fixture creates is removed at teardown, even when the test fails; processes are
stopped by the PIDs we recorded (and, as a backstop, any process left inside a namespace we
created, which can only be a descendant of something we started).

Use in a test:

    def test_x(lab_segment, sshd):
        seg = lab_segment({"web1": "10.10.1.11/24", "web2": "10.10.1.12/24"},
                          bridge_address="10.10.1.1/24")
        seg.run("web1", ["ip", "-br", "addr"])                 # subprocess inside web1's namespace
        proc = seg.start("web2", ["nginx", "-c", conf], log)    # long-running, stopped at teardown
        server = sshd(seg.ns("web1"), seg.address("web1"))      # real OpenSSH on 10.10.1.11:22
        target = server.target("web1")                          # labctl.lab.nodes.ssh.SshTarget
        # connect from the bridge namespace, like labctl from the libvirt host side:
        SshSession.connect(target, seg.bridge_ns, tmp_path / "known_hosts")
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from labctl.lab.host import netns
from labctl.lab.host.sandbox import process_alive
from labctl.lab.nodes.ssh import SshTarget

SSHD = "/usr/sbin/sshd"


# --------------------------------------------------------------------------------------------
# Preconditions


def skip_unless_netns_capable() -> None:
    """Skip the calling test when namespaces cannot be built here (not root, no iproute2)."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if shutil.which("ip") is None:
        pytest.skip("iproute2 ('ip') is not installed")


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


# --------------------------------------------------------------------------------------------
# Processes started by tests


@dataclass
class StartedProcess:
    """A program we started inside a namespace; `pid` is the program's own PID
    (`ip netns exec` replaces itself with the program)."""

    argv: list[str]
    popen: subprocess.Popen[bytes]
    log_path: Path | None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self, grace: float = 5.0) -> None:
        stop_pid(self.pid, grace, self.popen)


def stop_pid(pid: int, grace: float = 5.0, popen: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM PID, then SIGKILL if it is still there after GRACE seconds; reap our child."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if popen is not None:
        try:
            popen.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            pass
    else:
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and process_alive(pid):
            time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if popen is not None:
        popen.wait(timeout=grace)


def start_in(ns: str, argv: list[str], log_path: Path | None = None) -> StartedProcess:
    """Start ARGV in namespace NS, output to LOG_PATH (or discarded)."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        popen = subprocess.Popen(
            netns.exec_argv(ns, argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        if log_path:
            out.close()  # type: ignore[union-attr]
    return StartedProcess(argv, popen, log_path)


# --------------------------------------------------------------------------------------------
# Lab segment


@dataclass
class LabSegment:
    """A bridge namespace plus one namespace per node, joined by veth pairs."""

    prefix: str
    bridge_ns: str
    addresses: dict[str, str] = field(default_factory=dict)  # node -> "10.10.1.11/24"
    processes: list[StartedProcess] = field(default_factory=list)

    def ns(self, node: str) -> str:
        """The namespace of NODE."""
        if node not in self.addresses:
            raise KeyError(f"no node {node!r} on segment {self.prefix}")
        return f"{self.prefix}-{node}"

    def address(self, node: str) -> str:
        """NODE's address without the prefix length."""
        return str(ipaddress.ip_interface(self.addresses[node]).ip)

    def namespaces(self) -> list[str]:
        return [self.bridge_ns, *(self.ns(n) for n in self.addresses)]

    def run(
        self, node: str | None, argv: list[str], check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ARGV to completion inside NODE's namespace (the bridge's when NODE is None)."""
        ns = self.bridge_ns if node is None else self.ns(node)
        return subprocess.run(netns.exec_argv(ns, argv), capture_output=True, text=True, check=check, timeout=timeout)

    def start(self, node: str | None, argv: list[str], log_path: Path | None = None) -> StartedProcess:
        """Start a long-running ARGV in NODE's namespace; it is stopped at teardown."""
        ns = self.bridge_ns if node is None else self.ns(node)
        proc = start_in(ns, argv, log_path)
        self.processes.append(proc)
        return proc

    def add_address(self, node: str, cidr: str) -> None:
        """Add another address (a VIP, say) to NODE's eth0."""
        _ip("-n", self.ns(node), "addr", "add", cidr, "dev", "eth0")

    def delete(self) -> None:
        """Stop what we started, then remove every namespace; safe to call twice."""
        for proc in self.processes:
            proc.stop()
        self.processes.clear()
        for ns in self.namespaces():
            if netns.exists(ns):
                # Anything still inside descends from a process we started (e.g. an sshd
                # session child): stop it by PID so the namespace really goes away.
                for pid in netns.pids_in(ns):
                    stop_pid(pid)
                netns.delete(ns)


def build_segment(nodes: dict[str, str], bridge_address: str | None = None, prefix: str | None = None) -> LabSegment:
    """Create a segment: NODES maps node name to its address with prefix length."""
    prefix = prefix or f"lt{secrets.token_hex(3)}"
    segment = LabSegment(prefix, f"{prefix}-br", dict(nodes))
    try:
        _create_bridge(segment.bridge_ns, bridge_address)
        for index, node in enumerate(nodes, start=1):
            _attach_node(segment.bridge_ns, segment.ns(node), f"v{index}", nodes[node])
    except BaseException:
        segment.delete()
        raise
    return segment


def _create_bridge(ns: str, address: str | None) -> None:
    netns.create(ns)
    _ip(
        "-n", ns, "link", "add", "br0", "type", "bridge", "stp_state", "0", "mcast_snooping", "0"
    )  # flood multicast (VRRP) to every port, always
    _ip("-n", ns, "link", "set", "br0", "up")
    if address:
        _ip("-n", ns, "addr", "add", address, "dev", "br0")


def _attach_node(bridge_ns: str, node_ns: str, port: str, address: str) -> None:
    netns.create(node_ns)
    # Both ends are born inside namespaces: the pair never appears in the root namespace.
    _ip("-n", bridge_ns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", node_ns)
    _ip("-n", bridge_ns, "link", "set", port, "master", "br0", "up")
    _ip("-n", node_ns, "addr", "add", address, "dev", "eth0")
    _ip("-n", node_ns, "link", "set", "eth0", "up")


@pytest.fixture
def lab_segment() -> Iterator[Callable[..., LabSegment]]:
    """Factory: lab_segment({"node": "10.10.1.11/24", ...}, bridge_address=None) -> LabSegment."""
    skip_unless_netns_capable()
    built: list[LabSegment] = []

    def make(nodes: dict[str, str], bridge_address: str | None = None) -> LabSegment:
        segment = build_segment(nodes, bridge_address)
        built.append(segment)
        return segment

    yield make
    for segment in reversed(built):
        segment.delete()


# --------------------------------------------------------------------------------------------
# sshd


def ssh_keygen(path: Path, kind: str = "ed25519") -> Path:
    """A fresh passphrase-less key pair at PATH (and PATH.pub)."""
    for stale in (path, path.with_name(path.name + ".pub")):
        stale.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "labctl-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


@dataclass
class SshdServer:
    """A real OpenSSH server with its own config, host key and PID file, inside namespace NS.

    It lets root in with the client key only; `target()` describes it for labctl.lab.nodes.ssh.
    """

    ns: str
    address: str
    port: int
    workdir: Path
    client_key: Path
    process: StartedProcess | None = None

    @property
    def config_path(self) -> Path:
        return self.workdir / "sshd_config"

    @property
    def host_key(self) -> Path:
        return self.workdir / "host_ed25519"

    @property
    def pid_file(self) -> Path:
        return self.workdir / "sshd.pid"

    @property
    def log_path(self) -> Path:
        return self.workdir / "sshd.log"

    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.host_key.exists():
            ssh_keygen(self.host_key)
        authorized = self.workdir / "authorized_keys"
        authorized.write_text(self.client_key.with_name(self.client_key.name + ".pub").read_text())
        self.config_path.write_text(
            f"ListenAddress {self.address}:{self.port}\n"
            f"HostKey {self.host_key}\n"
            f"PidFile {self.pid_file}\n"
            f"AuthorizedKeysFile {authorized}\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "StrictModes no\n"  # pytest's tmp tree sits under world-writable /tmp
            "PrintMotd no\n"
            "Subsystem sftp internal-sftp\n"
            "LogLevel VERBOSE\n"
        )

    def start(self, ready_within: float = 10.0) -> SshdServer:
        """Start sshd and return once it listens (it writes its PID file after binding)."""
        self.prepare()
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation dir
        self.pid_file.unlink(missing_ok=True)
        self.process = start_in(self.ns, [SSHD, "-D", "-e", "-f", str(self.config_path)], self.log_path)
        deadline = time.monotonic() + ready_within
        while not self.pid_file.exists():
            if not self.process.alive() or time.monotonic() > deadline:
                log = self.process.log()
                self.stop()
                raise RuntimeError(f"sshd in {self.ns} did not start:\n{log}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop the listening sshd by the PID in its PID file (or the one we started)."""
        if self.process is None:
            return
        pid = self._pid_from_file() or self.process.pid
        if pid == self.process.pid:
            self.process.stop()
        else:
            stop_pid(pid)
            self.process.stop()
        self.process = None
        self.pid_file.unlink(missing_ok=True)

    def new_host_key(self) -> None:
        """Replace the host key (as a re-created VM would have); restart to take effect."""
        ssh_keygen(self.host_key)

    def target(self, name: str = "node") -> SshTarget:
        return SshTarget(name, self.address, self.port, "root", [str(self.client_key)])

    def _pid_from_file(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None


@pytest.fixture(scope="session")
def ssh_client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The private key every test sshd accepts (public half next to it, .pub)."""
    return ssh_keygen(tmp_path_factory.mktemp("ssh-client") / "id_ed25519")


@pytest.fixture
def sshd(tmp_path: Path, ssh_client_key: Path) -> Iterator[Callable[..., SshdServer]]:
    """Factory: sshd(ns, address, port=22, start=True) -> SshdServer (stopped at teardown)."""
    if not Path(SSHD).exists():
        pytest.skip(f"{SSHD} is not installed")
    servers: list[SshdServer] = []

    def make(ns: str, address: str, port: int = 22, start: bool = True) -> SshdServer:
        workdir = tmp_path / f"sshd-{len(servers)}-{address}-{port}"
        server = SshdServer(ns, address, port, workdir, ssh_client_key)
        servers.append(server)
        server.prepare()
        return server.start() if start else server

    yield make
    for server in servers:
        server.stop()
