"""libvirt as a provider: VM states from `virsh list`, the plug is `virsh destroy`, SSH
targets from the sandbox's DHCP leases, and every VM shut down at once from inside."""

from __future__ import annotations

import subprocess
import time
from typing import TYPE_CHECKING

from labctl.errors import LabctlError
from labctl.lab.host import mgmtnet
from labctl.lab.providers.libvirt.prerequisites import check_prerequisites
from labctl.lab.providers.vagranthalt import vagrant_halt
from labctl.lab.vms.loginkey import KEY_FILE
from labctl.lab.vms.vagrant import require_vagrant
from labctl.model.lab import LOCAL_BOX

if TYPE_CHECKING:
    from labctl.lab.running import RunningLab


class Libvirt:
    """vagrant-libvirt, with kvm or qemu (TCG); in a sandbox of the lab's own or the host's."""

    name = "libvirt"

    def check_prerequisites(self, isolation: str) -> None:
        require_vagrant()
        check_prerequisites(isolation)

    def lab_host(self, run: RunningLab) -> None:
        return None  # VMs: RunningLab brings them up, reaches them over SSH, destroys them

    def domain_states(self, run: RunningLab) -> dict[str, str] | None:
        # `virsh list` answers in milliseconds where `vagrant status` takes seconds.
        if run.sandbox is None or not run.sandbox.running():
            return None
        # --managed-save: a suspended domain says "saved" rather than "shut off".
        proc = run.sandbox.virsh("list", "--all", "--managed-save", check=False)
        if proc.returncode != 0:
            return None
        prefix = f"labctl-{run.info.name}-"
        states = {}
        for line in proc.stdout.splitlines():
            parts = line.split(None, 2)  # Id, Name, State ("running", "shut off", "saved")
            if len(parts) == 3 and parts[1].startswith(prefix):
                states[parts[1].removeprefix(prefix)] = parts[2].strip().replace(" ", "")
        return states

    def power_off(self, run: RunningLab, node: str) -> None:
        # vagrant-libvirt's `halt --force` asks the guest to shut down (ACPI), which lets
        # keepalived leave gracefully: `virsh destroy` is the real plug.
        domain = f"labctl-{run.info.name}-{node}"
        if run.sandbox is not None:
            proc = run.sandbox.virsh("destroy", domain, check=False)
        else:
            proc = subprocess.run(["virsh", "-c", "qemu:///system", "destroy", domain], capture_output=True, text=True)
        if proc.returncode != 0:
            raise LabctlError(f"cannot power off {node}: {proc.stderr.strip() or proc.stdout.strip()}")

    def lease_ssh_config(self, run: RunningLab, nodes: list[str]) -> str:
        """What `vagrant ssh-config` would print for NODES, from the sandbox's DHCP leases, for
        a lab on labctl's box (user vagrant, the lab's own key): each `vagrant ssh-config` is
        seconds of Ruby start-up on host CPU the booting VMs need. Nodes without a lease yet
        are left out (Vagrant is asked about them)."""
        if run.sandbox is None or run.lab is None or run.lab.provider.box != LOCAL_BOX:
            return ""
        key = run.state.root / KEY_FILE
        blocks = []
        for node in nodes:
            proc = run.sandbox.virsh("domifaddr", f"labctl-{run.info.name}-{node}", "--source", "lease", check=False)
            address = next((a for a in lease_addresses(proc.stdout) if a.startswith(mgmtnet.PREFIX)), None)
            if proc.returncode == 0 and address:
                blocks.append(
                    f"Host {node}\n  HostName {address}\n  User vagrant\n  Port 22\n"
                    f"  IdentityFile {key}\n  IdentitiesOnly yes\n"
                )
        return "".join(blocks)

    def power_on(self, run: RunningLab, node: str) -> None:
        # In a sandbox, the domain is started directly: `vagrant up` would add seconds of Ruby
        # start-up and its own SSH checks (host CPU the booting VM needs under TCG), for a VM
        # that keeps its MAC, and so its DHCP address, and its disk. Measured: SSH-ready 22.6 s
        # after `virsh start`, 28.4 s after `vagrant up NODE`.
        if run.sandbox is None:
            run.vagrant.up([node])
            return
        proc = run.sandbox.virsh("start", f"labctl-{run.info.name}-{node}", check=False)
        already = ("already active", "already running")  # virsh's own check, or libvirt's
        if proc.returncode != 0 and not any(words in proc.stderr for words in already):
            raise LabctlError(f"cannot power on {node}: {proc.stderr.strip() or proc.stdout.strip()}")

    def halt_all(self, run: RunningLab, timeout: float, nodes: list[str] | None = None) -> list[str]:
        """Every running VM (of NODES) shut down cleanly at once: `systemctl poweroff` over SSH
        (the lab's kernel command line masks systemd-logind, which would handle ACPI's power
        button); `vagrant halt` would go one VM after the other. A VM still running after
        TIMEOUT, or one SSH cannot reach, is powered off; returns those."""
        if run.sandbox is None:
            vagrant_halt(run, nodes)
            return []
        prefix = f"labctl-{run.info.name}-"
        states = self.domain_states(run) or {}
        running = sorted(n for n, state in states.items() if state == "running" and (nodes is None or n in nodes))
        asked = run.power_off_from_inside(running)
        # A node SSH cannot reach: ACPI's power button, when something in it listens (the lab's
        # default command line masks systemd-logind: then it is powered off at once).
        acpi = run.lab is None or "systemd.mask=systemd-logind.service" not in run.lab.provider.libvirt.cmd_line
        forced = []
        for node in running:
            if node in asked:
                continue
            if acpi:
                run.sandbox.virsh("shutdown", "--mode", "acpi", prefix + node, check=False)
            else:
                self.power_off(run, node)
                forced.append(node)
        running = [n for n in running if n not in forced]
        # Until each is shut off: "in shutdown" is still on its way.
        deadline = time.monotonic() + timeout
        while running and time.monotonic() < deadline:
            time.sleep(1.0)
            states = self.domain_states(run) or {}
            running = [n for n in running if states.get(n, "shutoff") != "shutoff"]
        for node in running:
            self.power_off(run, node)
        return forced + running


def lease_addresses(virsh_domifaddr: str) -> list[str]:
    """The IPv4 addresses in `virsh domifaddr --source lease` output, without their prefix."""
    found = []
    for line in virsh_domifaddr.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] == "ipv4":
            found.append(parts[3].split("/")[0])
    return found
