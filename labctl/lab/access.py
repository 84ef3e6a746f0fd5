"""LabAccess over real VMs: commands and streams over SSH, power through Vagrant.

The scenario engine drives a lab only through this (see labctl/lab/runtime.py). A node that
was powered off is reached again through a fresh SSH session once it has booted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labctl.errors import LabctlError
from labctl.lab.host import netns
from labctl.lab.host.lablog import log_to_lab
from labctl.lab.host.processes import PopenLineStream, dies_with_parent
from labctl.lab.host.state import LabState
from labctl.lab.host.statecheck import check_state
from labctl.lab.links.linkshaping import HostLink
from labctl.lab.links.packet_capture import CapturePoint
from labctl.lab.nodes.snapshot import read_node_state
from labctl.lab.nodes.ssh import CommandResult, SshLineStream, SshSession
from labctl.lab.running import RunningLab
from labctl.lab.runtime import Capability, ClosingLabAccess, LabAccess, WithoutOptional
from labctl.model import labfile
from labctl.model.lab import Lab
from labctl.observe.snapshot import NodeSnapshot


class LiveLab(WithoutOptional):
    """A running lab's nodes, reached over SSH (inside the lab's namespace when isolated).
    Services go through systemctl on the node (no SERVICES); capture_point, link and
    host_stream answer None when the lab is not sandboxed."""

    capabilities = frozenset({Capability.CAPTURE, Capability.HOST_LINK, Capability.HOST_PROGRAMS, Capability.JOURNAL})

    def __init__(self, lab: Lab, run: RunningLab) -> None:
        self.lab = lab
        self._run = run
        self._lock = threading.Lock()
        self._node_locks: dict[str, threading.Lock] = {}
        self._host_streams: list[PopenLineStream] = []
        self._observers: dict[str, SshSession] = {}  # read_state's sessions, apart from the run's

    def _session(self, node: str, wait: float = 60.0) -> SshSession:
        # One lock per node: a node that boots (power_on waits minutes for its SSH) must not
        # hold every other node's commands, and one node is connected to only once at a time.
        with self._node_lock(node):
            opened = self._run.sessions([node], wait=wait)[node]
        if opened.session is None:
            raise LabctlError(f"cannot reach {node} over SSH: {opened.why()}")
        return opened.session

    def run(self, node: str, argv: list[str] | str, sudo: bool = True, timeout: float = 60.0) -> CommandResult:
        return self._session(node).run(argv, sudo=sudo, timeout=timeout)

    def stream(self, node: str, argv: list[str] | str, sudo: bool = False) -> SshLineStream:
        return self._session(node).stream(argv, sudo=sudo)

    def put(self, node: str, path: str, content: bytes | str, mode: int = 0o644, sudo: bool = True) -> bool:
        return self._session(node).put(path, content, mode=mode, sudo=sudo)

    @property
    def journal(self) -> Path:
        """Where a scenario's Restorer records what it changed (see scenario.actions.Restorer)."""
        return self._run.state.journal

    @property
    def state_folder(self) -> Path:
        """The lab folder: the trusted start of the walk to the state folder's files."""
        return self._run.state.folder

    def power_off(self, node: str) -> None:
        with self._node_lock(node):  # no session to NODE is being opened meanwhile
            self._run.drop_session(node)
        self._run.hard_power_off(node)

    def _node_lock(self, node: str) -> threading.Lock:
        with self._lock:
            return self._node_locks.setdefault(node, threading.Lock())

    def power_on(self, node: str) -> None:
        self._run.power_on(node)
        # Its config is persisted (keepalived enabled, IPVS rules restored at boot, VIPs on lo
        # by labctl-vips.service): reaching it over SSH is all that is left to wait for.
        self._session(node, wait=300.0)

    # -- for observers that must not wait on a dead node (labctl dashboard) --------------------

    def is_up(self) -> bool:
        """False once the lab has been destroyed under us (its rendered Vagrantfile is gone)."""
        return self._run.has_vagrant_dir()

    def running_nodes(self) -> set[str] | None:
        """Nodes whose VM runs, asked of the hypervisor (None when only Vagrant could tell)."""
        return self._run.running_domains()

    def read_state(self, node: str, wait: float = 5.0) -> NodeSnapshot:
        """One snapshot of NODE in one SSH round trip, over a session of the observer's own:
        a node that does not answer costs WAIT seconds and no `vagrant ssh-config` (a running
        scenario may be using Vagrant on it), and a broken session is dropped so the next call
        connects afresh (someone else may have powered the node off and on)."""
        with self._lock:
            session = self._observers.get(node)
        if session is None:
            target = self._run.ssh_targets([node])[node]  # cached while the VM stays the same
            session = SshSession.connect(target, self._run.namespace, self._run.state.known_hosts, wait=wait)
            with self._lock:
                self._observers[node] = session
        try:
            return read_node_state(session)
        except Exception:
            with self._lock:
                self._observers.pop(node, None)
            session.close()
            raise

    # -- the host side of the lab network (sandboxed labs only) -------------------------------

    def capture_point(self) -> CapturePoint | None:
        """The lab network's bridge, inside the lab's namespace: every VRRP advert and ARP
        broadcast is flooded to it, and the host-side probe's traffic passes through it."""
        sandbox, namespace = self._run.sandbox, self._run.namespace
        if sandbox is None or namespace is None:
            return None
        network = f"labctl-{self.lab.name}"
        proc = sandbox.virsh("net-info", network, check=False)
        bridge = next(
            (line.split(":", 1)[1].strip() for line in proc.stdout.splitlines() if line.startswith("Bridge:")), None
        )
        if proc.returncode != 0 or not bridge:
            raise LabctlError(f"libvirt network {network} has no bridge: {proc.stderr.strip() or proc.stdout.strip()}")
        return CapturePoint(
            namespace, bridge, f"bridge {bridge} of network {network} (host side, namespace {namespace})"
        )

    def link(self, node: str) -> HostLink | None:
        """NODE's tap on the lab bridge, inside the lab's namespace (None when the lab has no
        sandbox): where link actions impair, cut or shape its traffic at no cost to the VM. A
        tap is born with its VM: after a power cycle this names the new one."""
        sandbox, namespace = self._run.sandbox, self._run.namespace
        if sandbox is None or namespace is None:
            return None
        domain, network = f"labctl-{self._run.info.name}-{node}", f"labctl-{self.lab.name}"
        proc = sandbox.virsh("domiflist", domain, check=False)
        for line in proc.stdout.splitlines():
            parts = line.split()  # Interface, Type, Source, Model, MAC
            if len(parts) >= 3 and parts[2] == network and parts[0] != "-":
                return HostLink(namespace, parts[0], f"{parts[0]}: {node}'s tap on {network} (namespace {namespace})")
        raise LabctlError(f"{node} has no interface on {network}: {proc.stderr.strip() or 'is it running?'}")

    def host_stream(self, argv: list[str]) -> PopenLineStream | None:
        """Run ARGV on the host inside the lab's namespace (None when the lab has none)."""
        namespace = self._run.namespace
        if namespace is None:
            return None
        stream = PopenLineStream.start(dies_with_parent(netns.exec_argv(namespace, argv)))
        self._host_streams.append(stream)
        return stream

    def close(self) -> None:
        for stream in self._host_streams:
            if stream.returncode is None:
                stream.stop()
        for session in self._observers.values():
            session.close()
        self._observers.clear()
        self._run.close()


@contextmanager
def open_live_lab(lab_path: Path, require_up: bool = True) -> Iterator[LiveLab]:
    """The lab of LAB_PATH as it runs now; raises a clear error when it is not up (with
    REQUIRE_UP False, only when it was never brought up: restoring a journal powers nodes on).
    A lab of VMs only (`labctl dashboard` reads them over SSH); `open_lab` takes any lab."""
    lab, run = _opened(lab_path, require_up)
    if run.host is not None:
        raise LabctlError(
            f"lab {lab.name} runs on provider {lab.provider.name}: this command follows VM labs only",
            fix="`labctl status` and `labctl scenario run` work on it",
        )
    live = LiveLab(lab, run)
    try:
        yield live
    finally:
        live.close()


@contextmanager
def open_lab(lab_path: Path, require_up: bool = True) -> Iterator[LabAccess]:
    """The lab of LAB_PATH as it runs now, as a LabAccess: VMs over SSH (`LiveLab`), or what the
    provider hands over for its own nodes (netns). Errors as `open_live_lab`."""
    lab, run = _opened(lab_path, require_up)
    access: LiveLab | ClosingLabAccess = LiveLab(lab, run) if run.host is None else run.host.access(lab)
    try:
        yield access
    finally:
        access.close()


def _opened(lab_path: Path, require_up: bool) -> tuple[Lab, RunningLab]:
    lab = labfile.read_lab(lab_path)  # LabFileError: exit 2, one line per problem
    check_state(LabState.for_lab(lab_path, lab.name))
    run = RunningLab.for_lab(lab, lab_path)
    if not run.is_brought_up():
        raise LabctlError(f"lab {lab.name} is not up", fix="labctl up")
    down = [n.name for n in lab.nodes if n.name not in (run.running_domains() or {n.name for n in lab.nodes})]
    if down and require_up:
        raise LabctlError(f"lab {lab.name} is not fully up: {', '.join(down)} not running", fix="labctl up")
    log_to_lab(run.state.logs_dir, run.state.folder)
    return lab, run
