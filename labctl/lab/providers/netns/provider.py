"""netns as a provider: no VMs, no Vagrant. Each node is a network namespace of this host
running the host's own keepalived and nginx (`host.py`), reached with `ip netns exec`
(`access.py`); power off kills the node's daemons and sets its link down."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.lab.providers.netns.host import NetnsHost
from labctl.lab.providers.netns.prerequisites import check_prerequisites

if TYPE_CHECKING:
    from labctl.lab.running import RunningLab


class Netns:
    name = "netns"

    def check_prerequisites(self, isolation: str) -> None:
        check_prerequisites(isolation)

    def lab_host(self, run: RunningLab) -> NetnsHost:
        return NetnsHost(run.state, run.info.name)

    def domain_states(self, run: RunningLab) -> dict[str, str] | None:
        return self.lab_host(run).node_states()

    def power_off(self, run: RunningLab, node: str) -> None:
        self.lab_host(run).power_off(run.lab, node)

    def power_on(self, run: RunningLab, node: str) -> None:
        self.lab_host(run).power_on(run.lab, node)

    def halt_all(self, run: RunningLab, timeout: float, nodes: list[str] | None = None) -> list[str]:
        self.lab_host(run).halt(nodes)
        return []

    def lease_ssh_config(self, run: RunningLab, nodes: list[str]) -> str:
        return ""  # no SSH: commands run in the node's namespace
