"""VirtualBox as a provider: every VM operation goes through Vagrant (no faster path is known)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.lab.providers.vagranthalt import vagrant_halt
from labctl.lab.providers.virtualbox.prerequisites import check_prerequisites

if TYPE_CHECKING:
    from labctl.lab.running import RunningLab


class VirtualBox:
    name = "virtualbox"

    def check_prerequisites(self, isolation: str) -> None:
        check_prerequisites(isolation)

    def domain_states(self, run: RunningLab) -> dict[str, str] | None:
        return None

    def power_off(self, run: RunningLab, node: str) -> None:
        run.vagrant.halt(node, force=True)  # VirtualBox's forced halt is a power-off

    def power_on(self, run: RunningLab, node: str) -> None:
        run.vagrant.up([node])

    def halt_all(self, run: RunningLab, timeout: float, nodes: list[str] | None = None) -> list[str]:
        vagrant_halt(run, nodes)
        return []
