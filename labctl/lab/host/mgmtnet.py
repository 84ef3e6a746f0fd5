"""The management network of a lab's sandbox: Vagrant's SSH path to every VM, DHCP by libvirt.

labctl defines it itself, before `vagrant up`: vagrant-libvirt would make one with dnsmasq's
defaults, and dnsmasq then pings each new address and waits for an answer before offering it
(six VMs booting together had their leases 3-11 s after their links came up; 0.2-1.6 s with
`no-ping`). vagrant-libvirt finds a network of this name and address and uses it as it is
(`management_network_keep` leaves it ours).
"""

from __future__ import annotations

import ipaddress

NAME = "labctl-mgmt"
ADDRESS = "192.168.121.0/24"
PREFIX = ADDRESS.rsplit(".", 1)[0] + "."  # "192.168.121.": a /24, so the first three octets
BRIDGE = "labctl-mgmt0"
# What labctl's definition has and vagrant-libvirt's has not: a network defined by an older
# labctl (through vagrant-libvirt) lacks it and is defined again.
MARK = "no-ping"


def network_xml() -> str:
    """The libvirt network XML of the management network."""
    # Imported here: the sandbox (which imports this module) runs on the bare system Python too.
    from labctl.templating import render

    net = ipaddress.ip_network(ADDRESS)
    hosts = list(net.hosts())
    return render(
        "libvirt/mgmt-network.xml.j2",
        network_name=NAME,
        bridge=BRIDGE,
        host_ip=str(hosts[0]),
        netmask=str(net.netmask),
        range_start=str(hosts[1]),
        range_end=str(hosts[-1]),
    )


def is_labctls(current_xml: str) -> bool:
    """True when CURRENT_XML (`virsh net-dumpxml --inactive`) is labctl's own definition."""
    return MARK in current_xml
