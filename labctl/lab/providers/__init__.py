"""Vagrant providers as objects: what each needs on the host, how it tells VM states quickly and
how it pulls the plug. Everything a running lab does differently per provider is in the
provider's folder here (libvirt/, virtualbox/), not in `if provider ==` chains; the
Vagrantfile's provider block is in Vagrantfile.j2.

This package holds the protocol every provider meets and the registry the lab file's
`provider.name` is looked up in (`provider_named`). A new provider is a new folder here, an
entry in PROVIDERS and a value in labctl.model.lab.PROVIDERS (see ARCHITECTURE.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from labctl.errors import LabctlError
from labctl.lab.providers.libvirt import Libvirt
from labctl.lab.providers.virtualbox import VirtualBox

if TYPE_CHECKING:
    from labctl.lab.running import RunningLab

__all__ = ["PROVIDERS", "Libvirt", "Provider", "VirtualBox", "provider_named"]


class Provider(Protocol):
    name: str

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


PROVIDERS: dict[str, type[VirtualBox] | type[Libvirt]] = {"virtualbox": VirtualBox, "libvirt": Libvirt}


def provider_named(name: str) -> Provider:
    try:
        return PROVIDERS[name]()
    except KeyError:
        raise LabctlError(f"unknown provider {name!r}: use {', '.join(PROVIDERS)}") from None
