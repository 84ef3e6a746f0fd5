"""The libvirt provider (vagrant-libvirt, kvm or qemu/TCG, in the lab's sandbox or the host's
libvirtd): the provider class, its prerequisites, and the driver setting settled per host
(`driver.py`, with the KVM probe `kvmprobe.py` and its pure half `kvmjudge.py`)."""

from labctl.lab.providers.libvirt.prerequisites import host_libvirt_socket, vagrant_libvirt_installed
from labctl.lab.providers.libvirt.provider import Libvirt, lease_addresses

__all__ = ["Libvirt", "host_libvirt_socket", "lease_addresses", "vagrant_libvirt_installed"]
