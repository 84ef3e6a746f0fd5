"""A LabAccess over network namespaces: each node is a namespace, its daemons are processes
labctl started there. Used by the integration tests, and a fast lab without VMs.

Every command runs as `ip netns exec NS ...`, which also gives it a private mount namespace:
labctl bind-mounts the node's own run folder on /run/labctl there, so the scripts, VRRP state
files and keepalived notify output of one node never mix with another's, exactly as on VMs.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from labctl.lab.host import netns
from labctl.lab.host.processes import PopenLineStream, kill_group
from labctl.lab.links.linkshaping import HostLink
from labctl.lab.links.packet_capture import CapturePoint
from labctl.lab.nodes.ssh import CommandResult, command_line
from labctl.lab.runtime import Capability, WithoutOptional
from labctl.model.lab import Lab
from labctl.scenario.access import RUN_DIR


@dataclass
class Daemon:
    """A long-running program of a node (keepalived, nginx), restartable by name."""

    name: str
    argv: list[str]
    stale_files: list[Path] = field(default_factory=list)  # pid files to remove before a start
    popen: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


class NamespaceLab(WithoutOptional):
    # No host programs: the host-side probe needs the lab's own namespace, which this lab's
    # builder does not hand over; no journal: nothing outlives the test's lab.
    capabilities = frozenset({Capability.SERVICES, Capability.CAPTURE, Capability.HOST_LINK})

    def __init__(
        self,
        lab: Lab,
        namespaces: dict[str, str],
        workdir: Path,
        interface: str | None = None,
        capture_at: CapturePoint | None = None,
        links: dict[str, HostLink] | None = None,
    ) -> None:
        self.lab = lab
        self.capture_at = capture_at
        self.links = dict(links or {})
        self.namespaces = dict(namespaces)
        self.workdir = workdir
        self.interface = interface or lab.network.interface
        self.daemons: dict[str, dict[str, Daemon]] = {node: {} for node in namespaces}
        self.streams: dict[str, list[PopenLineStream]] = {node: [] for node in namespaces}
        self._lock = threading.Lock()
        # The mount point must exist; what is mounted on it lives only in each command's view.
        Path(RUN_DIR).mkdir(parents=True, exist_ok=True)
        for node in namespaces:
            (self.run_dir(node) / "vrrp").mkdir(parents=True, exist_ok=True)

    def run_dir(self, node: str) -> Path:
        return self.workdir / "nodes" / node / "run"

    def _argv(self, node: str, argv: list[str] | str) -> list[str]:
        text = command_line(argv)
        wrapper = f'mount --bind "$0" {RUN_DIR} && exec sh -c "$1"'
        return netns.exec_argv(self.namespaces[node], ["sh", "-c", wrapper, str(self.run_dir(node)), text])

    # -- LabAccess ----------------------------------------------------------------------------

    def run(
        self, node: str, argv: list[str] | str, sudo: bool = True, timeout: float = 60.0, stdin: bytes | None = None
    ) -> CommandResult:
        started = time.monotonic()
        try:
            proc = subprocess.run(self._argv(node, argv), input=stdin, capture_output=True, timeout=timeout)
            rc, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            rc, out, err = 124, exc.stdout or b"", (exc.stderr or b"") + b"timed out"
        return CommandResult(
            node,
            argv,
            rc,
            out.decode(errors="replace"),
            err.decode(errors="replace"),
            time.monotonic() - started,
            command_line(argv),
        )

    def stream(self, node: str, argv: list[str] | str, sudo: bool = False) -> PopenLineStream:
        popen = subprocess.Popen(
            self._argv(node, argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        stream = PopenLineStream(popen)
        with self._lock:
            self.streams[node].append(stream)
        return stream

    def put(self, node: str, path: str, content: bytes | str, mode: int = 0o644, sudo: bool = True) -> bool:
        data = content.encode() if isinstance(content, str) else content
        quoted = shlex.quote(path)
        result = self.run(
            node, f"mkdir -p $(dirname {quoted}) && cat > {quoted} && chmod {mode:o} {quoted}", stdin=data
        )
        if not result.ok:
            raise RuntimeError(f"{node}: cannot write {path}: {result.stderr.strip()}")
        return True

    def power_off(self, node: str) -> None:
        """Like pulling the plug: every process of the node dies at once, the link goes down."""
        for daemon in self.daemons[node].values():
            if daemon.popen is not None:
                kill_group(daemon.popen, signal.SIGKILL)
                daemon.popen.wait(timeout=5)
        with self._lock:
            streams, self.streams[node] = self.streams[node], []
        for stream in streams:
            kill_group(stream.popen, signal.SIGKILL)
        self._ip(node, "link", "set", self.interface, "down")

    def power_on(self, node: str) -> None:
        """Boot: the link comes up, /run starts empty, the daemons start again."""
        self._ip(node, "link", "set", self.interface, "up")
        for entry in (self.run_dir(node) / "vrrp").glob("*"):
            entry.unlink()
        for daemon in self.daemons[node].values():
            self._start(node, daemon)

    def capture_point(self) -> CapturePoint | None:
        """Where the segment is recorded (the client's bridge port, set by whoever built it)."""
        return self.capture_at

    def link(self, node: str) -> HostLink | None:
        """NODE's bridge port in the bridge namespace: the host side of its link, as a VM's tap."""
        return self.links.get(node)

    # -- services (the SERVICES capability: actions prefer it to systemctl) -------------------

    def add_daemon(self, node: str, name: str, argv: list[str], stale_files: list[Path] | None = None) -> Daemon:
        daemon = Daemon(name, argv, list(stale_files or []), log_path=self.workdir / "nodes" / node / f"{name}.log")
        self.daemons[node][name] = daemon
        self._start(node, daemon)
        return daemon

    def service(self, node: str, unit: str, op: str) -> None:
        daemon = self.daemons[node][unit]
        if op == "start":
            if not daemon.running:
                self._start(node, daemon)
        elif daemon.popen is not None and daemon.running:
            kill_group(daemon.popen, signal.SIGKILL if op == "kill" else signal.SIGTERM)
            try:
                daemon.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill_group(daemon.popen, signal.SIGKILL)
                daemon.popen.wait(timeout=5)

    def _start(self, node: str, daemon: Daemon) -> None:
        for stale in daemon.stale_files:
            stale.unlink(missing_ok=True)
        assert daemon.log_path is not None
        daemon.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(daemon.log_path, "ab") as log:
            daemon.popen = subprocess.Popen(
                self._argv(node, daemon.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _ip(self, node: str, *args: str) -> None:
        subprocess.run(["ip", "-n", self.namespaces[node], *args], check=True, capture_output=True)

    def close(self) -> None:
        """Stop every process this object started (by process group), streams first."""
        for node in self.namespaces:
            with self._lock:
                streams, self.streams[node] = self.streams[node], []
            for stream in streams:
                stream.stop()
            for daemon in self.daemons[node].values():
                if daemon.popen is not None and daemon.running:
                    self.service(node, daemon.name, "stop")
