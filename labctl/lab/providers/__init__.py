"""Providers as objects: what each needs on the host, how it tells node states quickly and how
it pulls the plug. Everything a running lab does differently per provider is in the provider's
folder here (libvirt/, virtualbox/, netns/), not in `if provider ==` chains; the Vagrantfile's
provider block is in Vagrantfile.j2.

The Vagrant providers' nodes are VMs that RunningLab brings up, reaches over SSH and destroys
through Vagrant; a provider whose nodes are something else (netns: network namespaces of this
host) hands RunningLab a `LabHost` (`Provider.lab_host`) that does those for it.

This package holds the protocol every provider meets and the registry the lab file's
`provider.name` is looked up in (`provider_named`). A new provider is a new folder here, an
entry in PROVIDERS and a value in labctl.model.lab.PROVIDERS (see ARCHITECTURE.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from labctl.errors import LabctlError
from labctl.lab.nodes.provision import NodeReport
from labctl.lab.nodes.ssh import ShellResult
from labctl.lab.nodes.verify import Check
from labctl.lab.providers.libvirt import Libvirt
from labctl.lab.providers.netns import Netns
from labctl.lab.providers.virtualbox import VirtualBox
from labctl.lab.runtime import ClosingLabAccess
from labctl.lab.vms.render import RenderedFile
from labctl.model.lab import Lab

if TYPE_CHECKING:
    from labctl.lab.running import RunningLab

__all__ = ["PROVIDERS", "LabHost", "Libvirt", "Netns", "Provider", "VirtualBox", "provider_named"]


class LabHost(Protocol):
    """A provider's own way with its nodes, when they are not Vagrant VMs reached over SSH."""

    def brought_up(self) -> bool:
        """Whether `up` made the lab here (and `destroy` has not removed it)."""

    def up(
        self, lab: Lab, files: dict[str, list[RenderedFile]], say: Callable[[str], None]
    ) -> tuple[dict[str, NodeReport], dict[str, str]]:
        """Every node as LAB says, given its rendered FILES: per node, what changed, or why not."""

    def checks(self, lab: Lab) -> list[Check]:
        """`up`'s checks of the lab as it is now (`up` repeats them until they pass)."""

    def shells(self, lab: Lab, nodes: list[str]) -> dict[str, ShellResult]:
        """A way to run commands on each of NODES (`labctl exec`, `labctl status`)."""

    def access(self, lab: Lab) -> ClosingLabAccess:
        """The running lab as a LabAccess (`scenario run`, `check`)."""

    def destroy(self) -> list[str]:
        """Everything of the lab on this host removed (the state folder aside); what went."""


class Provider(Protocol):
    name: str

    def lab_host(self, run: RunningLab) -> LabHost | None:
        """The provider's own LabHost, or None: Vagrant VMs, which RunningLab handles itself."""

    def check_prerequisites(self, isolation: str) -> None:
        """Raise a LabctlError (with the fix) when the host cannot run this provider."""

    def domain_states(self, run: RunningLab) -> dict[str, str] | None:
        """Node -> VM state asked of the hypervisor directly, or None when only Vagrant knows."""

    def power_off(self, run: RunningLab, node: str) -> None:
        """Pull the plug: no shutdown, no goodbye adverts."""

    def power_on(self, run: RunningLab, node: str) -> None:
        """Start a node's existing, stopped VM (returns once it starts, not once it booted)."""

    def halt_all(self, run: RunningLab, timeout: float, nodes: list[str] | None = None) -> list[str]:
        """Shut the lab's VMs (or NODES' only) down cleanly; the nodes that had to be powered
        off instead."""

    def lease_ssh_config(self, run: RunningLab, nodes: list[str]) -> str:
        """`vagrant ssh-config` text for NODES known without asking Vagrant (seconds of Ruby
        each time), or "" when the provider knows nothing quicker."""


PROVIDERS: dict[str, type[VirtualBox] | type[Libvirt] | type[Netns]] = {
    "virtualbox": VirtualBox,
    "libvirt": Libvirt,
    "netns": Netns,
}


def provider_named(name: str) -> Provider:
    try:
        provider: Provider = PROVIDERS[name]()
        return provider
    except KeyError:
        raise LabctlError(f"unknown provider {name!r}: use {', '.join(PROVIDERS)}") from None
