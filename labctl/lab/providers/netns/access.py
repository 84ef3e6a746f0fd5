"""LabAccess over network namespaces: each node is a namespace, its daemons are process groups
labctl started there and recorded (`daemons.py`), so a later labctl finds them.

Every command runs as `ip netns exec NS ...`, which also gives it a private mount namespace:
the node's own run folder is bind-mounted on /run/labctl there, so the scripts, VRRP state
files and keepalived notify output of one node never mix with another's, exactly as on VMs.

`NamespaceLab` is the namespaces alone (the integration tests build one over their own
segment); `NetnsLab` is the netns provider's lab, which also has the host side of the lab
network (the lan namespace: probes run there) and a state folder (the scenario journal).

What a namespace node does for the core operations: power off kills every process of its
daemons at once (SIGKILL: no goodbye adverts) and sets its lab link down; power on sets the
link up, empties its /run/labctl/vrrp (a booted node's /run is empty) and starts its recorded
daemons again. It has every optional operation (SERVICES, CAPTURE, HOST_LINK, HOST_PROGRAMS,
JOURNAL): nothing here refuses with NotSupported.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path

from labctl.lab.host import netns
from labctl.lab.host.processes import PopenLineStream, kill_group
from labctl.lab.links.linkshaping import HostLink
from labctl.lab.links.packet_capture import CapturePoint
from labctl.lab.nodes.ssh import CommandResult, command_line
from labctl.lab.providers.netns.daemons import Daemon, DaemonStore
from labctl.lab.runtime import Capability, WithoutOptional
from labctl.model.lab import Lab

# Where labctl keeps run-time files on a node: labctl.scenario.access.RUN_DIR (the scenario
# layer is above this one; a unit test holds the two equal).
RUN_DIR = "/run/labctl"


class NamespaceLab(WithoutOptional):
    """A lab whose nodes are the network namespaces NAMESPACES (node -> namespace), their files
    under WORKDIR/nodes/<node>/. CAPTURE_AT and LINKS: the host side, when the builder has one."""

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
        self.daemons = DaemonStore(workdir / "nodes")
        self.streams: dict[str, list[PopenLineStream]] = {node: [] for node in namespaces}
        self._lock = threading.Lock()
        # The mount point must exist; what is mounted on it lives only in each command's view.
        Path(RUN_DIR).mkdir(parents=True, exist_ok=True)
        for node in namespaces:
            (self.run_dir(node) / "vrrp").mkdir(parents=True, exist_ok=True)

    def run_dir(self, node: str) -> Path:
        """NODE's /run/labctl, as seen from the host."""
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
        stream = PopenLineStream.start(self._argv(node, argv))
        with self._lock:
            self.streams.setdefault(node, []).append(stream)
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
        """Like pulling the plug: every process of the node's daemons dies at once, the link
        goes down."""
        self.daemons.stop_all(node, signal.SIGKILL, grace=5.0)
        with self._lock:
            streams, self.streams[node] = self.streams.get(node, []), []
        for stream in streams:
            kill_group(stream.popen, signal.SIGKILL)
        self._ip(node, "link", "set", self.interface, "down")

    def power_on(self, node: str) -> None:
        """Boot: the link comes up, /run/labctl/vrrp starts empty, the daemons start again."""
        self._ip(node, "link", "set", self.interface, "up")
        for entry in (self.run_dir(node) / "vrrp").glob("*"):
            entry.unlink()
        for daemon in self.daemons.all(node):
            if not daemon.running:
                self._start(node, daemon)

    def capture_point(self) -> CapturePoint | None:
        """Where the segment is recorded (set by whoever built the lab network)."""
        return self.capture_at

    def link(self, node: str) -> HostLink | None:
        """NODE's bridge port: the host side of its link, as a VM's tap."""
        return self.links.get(node)

    # -- services (the SERVICES capability: actions prefer it to systemctl) -------------------

    def add_daemon(
        self, node: str, name: str, argv: list[str], stale_files: list[Path] | None = None, digest: str = ""
    ) -> Daemon:
        """Record NODE's daemon NAME and start it (a running one of the same digest is left)."""
        known = self.daemons.get(node, name)
        if known is not None and known.running:
            if known.digest == digest and known.argv == argv:
                return known
            self.daemons.stop(node, name)
        daemon = Daemon(name, list(argv), [str(s) for s in stale_files or []], digest)
        return self._start(node, daemon)

    def service(self, node: str, unit: str, op: str) -> None:
        daemon = self.daemons.get(node, unit)
        if daemon is None:
            raise KeyError(f"{node} has no daemon {unit!r} (it has {', '.join(self.daemons.names(node)) or 'none'})")
        if op == "start":
            if not daemon.running:
                self._start(node, daemon)
        else:
            self.daemons.stop(node, unit, signal.SIGKILL if op == "kill" else signal.SIGTERM)

    def _start(self, node: str, daemon: Daemon) -> Daemon:
        # exec: the recorded leader is the daemon itself, not a shell waiting for it.
        return self.daemons.start(node, daemon, self._argv(node, "exec " + shlex.join(daemon.argv)))

    def _ip(self, node: str, *args: str) -> None:
        subprocess.run(["ip", "-n", self.namespaces[node], *args], check=True, capture_output=True)

    def stop_streams(self) -> None:
        for node in list(self.streams):
            with self._lock:
                streams, self.streams[node] = self.streams[node], []
            for stream in streams:
                stream.stop()

    def close(self) -> None:
        """Stop the streams this object started. The daemons outlive it: `down`, `destroy` or
        the builder stop them (`stop_daemons`)."""
        self.stop_streams()

    def stop_daemons(self) -> None:
        for node in self.namespaces:
            self.daemons.stop_all(node)


class NetnsLab(NamespaceLab):
    """The netns provider's lab: also the host side of the lab network (the lan namespace,
    where host-side probes run) and a state folder (the scenario journal)."""

    capabilities = frozenset(
        {Capability.SERVICES, Capability.CAPTURE, Capability.HOST_LINK, Capability.HOST_PROGRAMS, Capability.JOURNAL}
    )

    def __init__(
        self,
        lab: Lab,
        namespaces: dict[str, str],
        workdir: Path,
        lan_namespace: str,
        journal_path: Path,
        folder: Path,
        interface: str | None = None,
        capture_at: CapturePoint | None = None,
        links: dict[str, HostLink] | None = None,
    ) -> None:
        super().__init__(lab, namespaces, workdir, interface, capture_at, links)
        self.lan_namespace = lan_namespace
        self._journal = journal_path
        self._folder = folder
        self._host_streams: list[PopenLineStream] = []

    def host_stream(self, argv: list[str]) -> PopenLineStream | None:
        """ARGV run on the host side of the lab network: in the lan namespace, on its bridge."""
        stream = PopenLineStream.start(netns.exec_argv(self.lan_namespace, argv))
        with self._lock:
            self._host_streams.append(stream)
        return stream

    @property
    def journal(self) -> Path:
        return self._journal

    @property
    def state_folder(self) -> Path:
        return self._folder

    def close(self) -> None:
        super().close()
        with self._lock:
            streams, self._host_streams = self._host_streams, []
        for stream in streams:
            if stream.returncode is None:
                stream.stop()
