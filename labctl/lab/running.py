"""A lab as it runs: its state folder, sandbox, Vagrant environment and SSH sessions.

This is the I/O side of `up`, `status`, `exec`, `ssh`, `down` and `destroy`. What it needs to
find and tear down a lab is recorded in the state folder (`runinfo.json`), so `destroy` works
when the lab file has changed or is gone.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from labctl.errors import LabctlError
from labctl.lab.host import safefiles
from labctl.lab.host.sandbox import Sandbox, SandboxError
from labctl.lab.host.state import STATE_ROOT, LabState, vrrp_password
from labctl.lab.nodes.agentshell import AgentShell
from labctl.lab.nodes.ssh import (
    SessionResult,
    ShellResult,
    SshError,
    SshSession,
    SshTarget,
    forget_host,
    parse_ssh_config,
    run_parallel,
)
from labctl.lab.providers import provider_named
from labctl.lab.providers.libvirt import driver
from labctl.lab.vms import box as boxes
from labctl.lab.vms import vmstate
from labctl.lab.vms.render import BoxRef, RenderContext, render_lab, write_rendered
from labctl.lab.vms.rendercontext import box_ref, box_with_login_key, libvirt_runtime, sandbox_for
from labctl.lab.vms.vagrant import LabVagrant
from labctl.lab.vms.virshshell import VirshShell
from labctl.model.lab import LOCAL_BOX, Lab

log = logging.getLogger(__name__)

RUNINFO = "runinfo.json"


@dataclass(frozen=True)
class RunInfo:
    """What a lab's teardown needs, saved when it first comes up."""

    name: str
    provider: str
    isolation: str
    namespace: str | None
    tb_size: int

    @classmethod
    def of(cls, lab: Lab) -> RunInfo:
        isolated = lab.isolation == "netns"
        return cls(
            lab.name,
            lab.provider.name,
            lab.isolation,
            sandbox_namespace(lab.name) if isolated else None,
            lab.provider.libvirt.tb_size,
        )

    def save(self, state: LabState) -> None:
        state.ensure()
        state.write(RUNINFO, json.dumps(self.__dict__, indent=2) + "\n", 0o644)

    @classmethod
    def load(cls, state: LabState) -> RunInfo | None:
        text = state.read(RUNINFO)
        if text is None:
            return None
        return cls(**json.loads(text))


def sandbox_namespace(lab_name: str) -> str:
    from labctl.lab.host.sandbox import namespace_for

    return namespace_for(lab_name)


def find_states(folder: Path) -> list[LabState]:
    """Every lab state under FOLDER/.labctl that has been brought up."""
    root = folder.resolve() / STATE_ROOT
    if not root.is_dir():
        return []
    return [LabState(p) for p in sorted(root.iterdir()) if (p / RUNINFO).exists()]


class RunningLab:
    """The lab's runtime pieces; cheap to make, nothing starts until a method asks."""

    def __init__(self, state: LabState, info: RunInfo, lab: Lab | None = None) -> None:
        self.state = state
        self.info = info
        self.lab = lab
        self.provider = provider_named(info.provider)
        # The provider's own way with its nodes (netns); None: Vagrant VMs over SSH, below.
        self.host = self.provider.lab_host(self)
        self.sandbox: Sandbox | None = (
            sandbox_for(info.name, state, info.tb_size) if info.isolation == "netns" else None
        )
        self._sessions: dict[str, SshSession] = {}
        self._session_errors: dict[str, BaseException] = {}
        self._virsh: dict[str, VirshShell] = {}  # node -> an open virsh (its guest agent's way)
        self._agent_shells: dict[str, AgentShell] = {}
        self._lock = threading.RLock()

    @classmethod
    def for_lab(cls, lab: Lab, lab_path: Path) -> RunningLab:
        state = LabState.for_lab(lab_path, lab.name)
        return cls(state, RunInfo.of(lab), lab)

    # --- environment ---------------------------------------------------------------------

    @property
    def namespace(self) -> str | None:
        return self.sandbox.name if self.sandbox else None

    def vagrant_env(self) -> dict[str, str]:
        if self.sandbox:
            return self.sandbox.vagrant_env()
        env = dict(os.environ)
        env.setdefault("VAGRANT_CHECKPOINT_DISABLE", "1")
        return env

    @property
    def vagrant(self) -> LabVagrant:
        return LabVagrant(
            self.state.render_dir,
            self.vagrant_env(),
            self.state.logs_dir / "vagrant.log",
            namespace=self.namespace,
            provider=self.info.provider,
            state=self.state,
        )

    def has_vagrant_dir(self) -> bool:
        return (self.state.render_dir / "Vagrantfile").exists()

    def is_brought_up(self) -> bool:
        """Whether `up` made the lab here: its Vagrantfile, or its provider says so."""
        return self.host.brought_up() if self.host is not None else self.has_vagrant_dir()

    # --- bring up --------------------------------------------------------------------------

    def check_prerequisites(self) -> None:
        if self.lab is not None:
            driver.check(self.lab)  # a kvm that cannot run a guest here: refused before Vagrant
        if self.info.isolation == "netns" and os.geteuid() != 0:
            raise LabctlError(
                "an isolated lab (isolation: netns) needs root for its network namespace",
                fix="run labctl with sudo, or set `isolation: none` in the lab file",
            )
        self.provider.check_prerequisites(self.info.isolation)

    def start_sandbox(self) -> None:
        if self.sandbox is None:
            return
        try:
            self.sandbox.start()
        except SandboxError as exc:
            raise LabctlError(str(exc)) from exc

    def ensure_box(self, progress=None) -> None:
        assert self.lab is not None
        if self.lab.provider.box != LOCAL_BOX:
            return
        try:
            info = boxes.build_box(progress=progress)
            boxes.add_box_to_vagrant(info, self.vagrant_env())
        except boxes.BoxError as exc:
            raise LabctlError(str(exc)) from exc

    def seed_box_volume(self) -> None:
        """A sandboxed lab of labctl's box: its base volume put in the pool beforehand (see
        labctl.lab.vms.box.seed_pool), so `vagrant up` skips its slow upload."""
        assert self.lab is not None
        if self.lab.provider.box != LOCAL_BOX or self.sandbox is None:
            return
        info = boxes.find_box()
        if info is None:
            return
        try:
            seeded = boxes.seed_pool(info, self.sandbox.vagrant_home, self.sandbox.images_dir)
        except OSError as exc:
            log.info("box volume not seeded (%s): vagrant-libvirt uploads it", exc)
            return
        if seeded is not None:
            self.sandbox.virsh("pool-refresh", "default", check=False)
            log.info("box volume seeded: %s", seeded.name)

    def render(self) -> RenderContext:
        assert self.lab is not None
        if self.host is not None:
            # No VMs: no box, no login key, no Vagrantfile; the nodes' files are rendered all the same.
            ctx = RenderContext(box=BoxRef(self.lab.provider.box), auth_pass=vrrp_password(self.lab, self.state))
            write_rendered(render_lab(self.lab, ctx), self.state.render_dir, base=self.state.folder)
            return ctx
        ctx = RenderContext(
            box=box_with_login_key(box_ref(self.lab), self.state),
            libvirt=libvirt_runtime(self.lab, self.state),
            auth_pass=vrrp_password(self.lab, self.state),
        )
        write_rendered(render_lab(self.lab, ctx), self.state.render_dir, base=self.state.folder)
        return ctx

    # --- SSH ---------------------------------------------------------------------------------

    def domain_states(self) -> dict[str, str] | None:
        """Each node's VM state asked of the hypervisor directly, where the provider can; None
        when only Vagrant can tell."""
        return self.provider.domain_states(self)

    def running_domains(self) -> set[str] | None:
        states = self.domain_states()
        return None if states is None else {n for n, s in states.items() if s == "running"}

    def hard_power_off(self, node: str) -> None:
        """Pull the plug: no shutdown, no goodbye adverts (each provider knows how)."""
        self.provider.power_off(self, node)

    def power_off_from_inside(self, nodes: list[str]) -> list[str]:
        """Ask each of NODES to power itself off (`systemctl poweroff`, not waited for), over
        SSH, all at once; the nodes that took the request (one SSH cannot reach is not)."""

        def ask(node: str, _: None) -> bool:
            session = self.sessions([node], wait=10.0)[node].session
            if session is None:
                return False
            result = session.run(["systemctl", "poweroff", "--no-block"], sudo=True, timeout=20)
            self.drop_session(node)  # the VM is going away
            return result.rc == 0

        asked = run_parallel(dict.fromkeys(nodes), ask)
        return [n for n, took in asked.items() if took is True]

    def power_on(self, node: str) -> None:
        """Start NODE's stopped VM (each provider knows the quick way); it still has to boot."""
        self.provider.power_on(self, node)

    def halt_all(self, timeout: float = 120.0, nodes: list[str] | None = None) -> list[str]:
        """Shut the lab's VMs down cleanly, all at once where the provider can; returns the nodes
        that did not stop in time and were powered off."""
        return self.provider.halt_all(self, timeout, nodes)

    def vm_states(self) -> dict[str, str]:
        """Node -> VM state (running, shutoff, not_created, ...), the fast way when there is one."""
        states = self.domain_states()
        if states is not None:
            return states
        nodes = [n.name for n in self.lab.nodes] if self.lab is not None else None
        return {s.name: s.state for s in self.vagrant.status(nodes)}

    def _ssh_config_cache(self) -> Path:
        return self.state.root / "ssh-config.json"

    def ssh_targets(self, nodes: list[str], fresh: bool = False) -> dict[str, SshTarget]:
        """SSH settings per node from `vagrant ssh-config`, cached per node while its VM stays
        the same (same machine id): asking Vagrant costs seconds on every command."""
        if self.host is not None:
            raise LabctlError(
                f"lab {self.info.name} runs on provider {self.info.provider}: its nodes have no SSH",
                fix="`labctl exec NODE -- COMMAND`",
            )
        with self._lock:
            ids = {n: _machine_id(self.state.render_dir, n, self.info.provider) for n in nodes}
            cache = self._ssh_config_cache()
            cached_text = self.state.read(cache.name)
            cached = json.loads(cached_text).get("nodes", {}) if cached_text else {}
            known = {
                n: cached[n]["text"] for n in nodes if not fresh and ids[n] and cached.get(n, {}).get("id") == ids[n]
            }
            asked = [n for n in nodes if n not in known]
            if asked and not fresh:
                for name, block in _host_blocks(self.provider.lease_ssh_config(self, asked)).items():
                    known[name] = block  # not cached: a lease is read again next time (milliseconds)
                asked = [n for n in asked if n not in known]
            if asked:
                text = self.vagrant.ssh_config_text(asked)
                for name, block in _host_blocks(text).items():
                    known[name] = block
                    if ids.get(name):
                        cached[name] = {"id": ids[name], "text": block}
                self.state.ensure()
                self.state.write(cache.name, json.dumps({"nodes": cached}, indent=2) + "\n")
        targets = parse_ssh_config("".join(known[n] for n in nodes if n in known))
        missing = [n for n in nodes if n not in targets]
        if missing:
            raise LabctlError(
                f"vagrant gave no SSH settings for {', '.join(missing)}", fix="`labctl up` (the VMs may not be running)"
            )
        return targets

    def has_machine_ids(self, nodes: list[str]) -> bool:
        return all(_machine_id(self.state.render_dir, n, self.info.provider) for n in nodes)

    def forget_recreated(self, nodes: list[str]) -> None:
        """A VM made anew at the same address has new host keys: drop the old pins for it
        (and only for it), keeping the check for every VM that was not re-created."""
        ids_text = self.state.read("machine-ids.json")
        known = json.loads(ids_text) if ids_text else {}
        for node in nodes:
            current = _machine_id(self.state.render_dir, node, self.info.provider)
            if current and known.get(node) != current:
                forget_host(self.state.known_hosts, node)
                known[node] = current
        self.state.ensure()
        self.state.write("machine-ids.json", json.dumps(known, indent=2) + "\n")

    def sessions(self, nodes: list[str], wait: float = 300.0) -> dict[str, SessionResult]:
        """Open (or reuse) an SSH session per node, in parallel, retrying while nodes boot.
        Safe to call from several threads (provisioning starts per node as each VM is ready)."""
        with self._lock:
            wanted = [n for n in nodes if n not in self._sessions]
            if wanted:
                self.forget_recreated(wanted)
        if wanted:
            targets = self.ssh_targets(wanted)
            connect = lambda name, target, limit: SshSession.connect(  # noqa: E731
                target, self.namespace, self.state.known_hosts, wait=limit
            )
            opened = run_parallel({n: targets[n] for n in wanted}, lambda n, t: connect(n, t, wait))
            stale = [n for n, r in opened.items() if isinstance(r, BaseException)]
            if stale:
                # A rebooted VM may have a new management address: ask Vagrant again, briefly.
                targets = self.ssh_targets(stale, fresh=True)
                opened.update(run_parallel({n: targets[n] for n in stale}, lambda n, t: connect(n, t, min(wait, 20.0))))
            with self._lock:
                for name, outcome in opened.items():
                    if isinstance(outcome, SshSession):
                        self._sessions[name] = outcome
                        self._session_errors.pop(name, None)
                    else:
                        self._session_errors[name] = outcome
        with self._lock:
            return {
                node: SessionResult(
                    node,
                    self._sessions.get(node),
                    None if node in self._sessions else self._session_errors.get(node, SshError(f"{node}: no session")),
                )
                for node in nodes
            }

    def shells(self, nodes: list[str], wait: float = 300.0) -> dict[str, ShellResult]:
        """A shell per node: the provider's own (netns), the guest agent's for a VM just woken
        (use_agent), else an SSH session (`sessions`)."""
        if self.host is not None:
            assert self.lab is not None
            return self.host.shells(self.lab, nodes)
        with self._lock:
            agents = {n: self._agent_shells[n] for n in nodes if n in self._agent_shells}
        ssh = self.sessions([n for n in nodes if n not in agents], wait) if len(agents) < len(nodes) else {}
        return {
            n: ShellResult(n, agents[n]) if n in agents else ShellResult(n, ssh[n].session, ssh[n].error) for n in nodes
        }

    def virsh_shell(self, node: str) -> VirshShell:
        """NODE's own open virsh into the lab's sandbox (started with the sandbox, if need be)."""
        assert self.sandbox is not None
        with self._lock:
            if node not in self._virsh:
                self._virsh[node] = VirshShell(self.sandbox.uri)
            return self._virsh[node]

    def use_agent(self, nodes: list[str]) -> None:
        """Run `shells()`' commands on NODES through their guest agents from now on, not SSH:
        for VMs just woken from saved memory, where a handshake costs seconds. SSH sessions
        (`sessions()`) are still opened when asked for."""
        with self._lock:
            for node in nodes:
                dom = vmstate.domain(self.info.name, node)
                self._agent_shells[node] = AgentShell(node, dom, self.virsh_shell(node).call)

    def drop_session(self, node: str) -> None:
        with self._lock:
            session = self._sessions.pop(node, None)
            self._agent_shells.pop(node, None)
        if session:
            session.close()

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
        self._agent_shells.clear()
        for virsh in self._virsh.values():
            virsh.close()
        self._virsh.clear()

    # --- tear down ---------------------------------------------------------------------------

    def _forget_saved_memory(self) -> None:
        """Before `vagrant destroy`: libvirt forgets every snapshot (their blocks go with the
        disks) and every managed save image (suspend), so vagrant-libvirt neither rewrites each
        qcow2 to delete snapshots one by one nor refuses a domain with a saved image."""
        if self.sandbox is None or not self.sandbox.running():
            return
        for node in self.domain_states() or {}:
            dom = vmstate.domain(self.info.name, node)
            listed = self.sandbox.virsh(*vmstate.snapshot_list(dom), check=False)
            for name in vmstate.parse_names(listed.stdout) if listed.returncode == 0 else []:
                self.sandbox.virsh(*vmstate.snapshot_delete(dom, name, metadata_only=True), check=False)
            self.sandbox.virsh("managedsave-remove", dom, check=False)

    def destroy(self, on_line=None) -> list[str]:
        """Remove the VMs, the lab's libvirt objects, the sandbox and the state folder.
        Returns what was removed, for the user to see."""
        removed = []
        self.close()
        # Only what is the lab's: a state folder that is a link, or has a link or a folder of
        # another user on its way, is refused before anything is stopped or removed.
        safefiles.check_tree(self.state.root, self.state.folder)
        if self.host is not None:
            removed += self.host.destroy()
        if self.sandbox and not self.sandbox.running() and self.has_vagrant_dir():
            # vagrant-libvirt needs its libvirtd to remove domains and volumes.
            try:
                self.sandbox.start()
            except SandboxError:
                pass
        self._forget_saved_memory()
        if self.has_vagrant_dir():
            try:
                self.vagrant.destroy(on_line)
                removed.append("VMs")
            except LabctlError:
                if not self.sandbox:
                    raise  # the host's libvirt: objects would be left behind; say so
        if self.sandbox:
            try:
                self.sandbox.destroy()
            except SandboxError as exc:
                raise LabctlError(str(exc)) from exc
            removed.append(f"sandbox {self.sandbox.name} (namespace, libvirtd, networks, volumes)")
        safefiles.remove_tree(self.state.root, self.state.folder)
        removed.append(f"state {self.state.root}")
        parent = self.state.root.parent
        if parent.name == STATE_ROOT:
            try:
                with safefiles.open_dir(parent.parent, parent.parent, create=False) as folder_fd:
                    os.rmdir(STATE_ROOT, dir_fd=folder_fd)  # the last lab here: no empty .labctl left
            except OSError:
                pass  # other labs (or the user's files) are still there
        return removed


def _host_blocks(text: str) -> dict[str, str]:
    """`vagrant ssh-config` output split into its `Host NAME` blocks, by name."""
    blocks: dict[str, str] = {}
    name = None
    for line in text.splitlines(keepends=True):
        if line.startswith("Host "):
            name = line.split()[1]
            blocks[name] = ""
        if name:
            blocks[name] += line
    return blocks


def _machine_id(render_dir: Path, node: str, provider: str) -> str | None:
    path = render_dir / ".vagrant" / "machines" / node / provider / "id"
    return path.read_text().strip() if path.exists() else None
