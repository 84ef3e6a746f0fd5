"""VirtualBox as a provider: every VM operation goes through Vagrant (no faster path is known)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.lab.providers.vagranthalt import vagrant_halt
from labctl.lab.providers.virtualbox.prerequisites import check_prerequisites
from labctl.lab.vms.vagrant import require_vagrant

if TYPE_CHECKING:
    from labctl.lab.running import RunningLab


class VirtualBox:
    name = "virtualbox"

    def check_prerequisites(self, isolation: str) -> None:
        require_vagrant()
        check_prerequisites(isolation)

    def lab_host(self, run: RunningLab) -> None:
        return None  # VMs: RunningLab brings them up, reaches them over SSH, destroys them

    def domain_states(self, run: RunningLab) -> dict[str, str] | None:
        return None

    def power_off(self, run: RunningLab, node: str) -> None:
        run.vagrant.halt(node, force=True)  # VirtualBox's forced halt is a power-off

    def power_on(self, run: RunningLab, node: str) -> None:
        run.vagrant.up([node])

    def halt_all(self, run: RunningLab, timeout: float, nodes: list[str] | None = None) -> list[str]:
        vagrant_halt(run, nodes)
        return []

    def lease_ssh_config(self, run: RunningLab, nodes: list[str]) -> str:
        return ""  # only Vagrant knows VirtualBox's forwarded ports
