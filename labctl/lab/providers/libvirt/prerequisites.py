"""What a libvirt lab needs on the host: the vagrant-libvirt plugin and, unless the lab runs
its own libvirtd in a sandbox (`isolation: netns`), the host's libvirtd."""

from __future__ import annotations

import subprocess
from pathlib import Path

from labctl.errors import LabctlError


def check_prerequisites(isolation: str) -> None:
    if not vagrant_libvirt_installed():
        raise LabctlError(
            "the vagrant-libvirt plugin is not installed",
            fix="apt-get install vagrant-libvirt libvirt-daemon-system qemu-system-x86",
        )
    if isolation != "netns" and not host_libvirt_socket():
        raise LabctlError(
            "no libvirtd answers on this host",
            fix="start libvirtd, or run the lab isolated (`isolation: netns`, needs root)",
        )


def vagrant_libvirt_installed() -> bool:
    gems = Path("/usr/share/rubygems-integration/all/specifications")
    if any(gems.glob("vagrant-libvirt-*.gemspec")):
        return True
    proc = subprocess.run(["vagrant", "plugin", "list"], capture_output=True, text=True)
    return "vagrant-libvirt" in proc.stdout


def host_libvirt_socket() -> bool:
    return Path("/run/libvirt/libvirt-sock").exists() or Path("/var/run/libvirt/libvirt-sock").exists()
