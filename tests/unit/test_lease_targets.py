"""SSH settings of labctl's box from the sandbox's DHCP leases, in place of `vagrant ssh-config`."""

from __future__ import annotations

from labctl.lab.nodes.ssh import parse_ssh_config
from labctl.lab.providers.libvirt import lease_addresses

DOMIFADDR = """ Name       MAC address          Protocol     Address
-------------------------------------------------------------------------------
 vnet8      52:54:00:a9:fd:49    ipv4         192.168.121.140/24
"""


def test_the_lease_address_is_read_without_its_prefix():
    assert lease_addresses(DOMIFADDR) == ["192.168.121.140"]
    assert lease_addresses(" Name  MAC address  Protocol  Address\n---\n") == []


def test_a_block_made_from_a_lease_parses_as_vagrants_would():
    block = "Host b1\n  HostName 192.168.121.140\n  User vagrant\n  Port 22\n  IdentityFile /s/login_key\n"
    target = parse_ssh_config(block)["b1"]
    assert (target.hostname, target.port, target.user, target.identity_files) == (
        "192.168.121.140",
        22,
        "vagrant",
        ["/s/login_key"],
    )
