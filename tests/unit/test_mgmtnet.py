"""labctl's management network: what vagrant-libvirt finds and uses as it is."""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET

from labctl.lab.host import mgmtnet

DNSMASQ_NS = "{http://libvirt.org/schemas/network/dnsmasq/1.0}"


def test_the_network_turns_off_dnsmasqs_ping_and_matches_the_vagrantfile():
    root = ET.fromstring(mgmtnet.network_xml())
    assert root.findtext("name") == mgmtnet.NAME
    options = [o.get("value") for o in root.iter(f"{DNSMASQ_NS}option")]
    assert options == ["no-ping"]
    ip = root.find("ip")
    assert ip is not None
    # vagrant-libvirt looks the management network up by this address: it must be ADDRESS.
    network = ipaddress.ip_network(f"{ip.get('address')}/{ip.get('netmask')}", strict=False)
    assert str(network) == mgmtnet.ADDRESS
    dhcp = ip.find("dhcp/range")
    assert dhcp is not None
    start, end = ipaddress.ip_address(dhcp.get("start")), ipaddress.ip_address(dhcp.get("end"))
    assert start in network and end in network and start > ipaddress.ip_address(ip.get("address"))
    assert str(start).startswith(mgmtnet.PREFIX)
    assert root.find("forward") is None  # isolated: no NAT, nothing leaves the namespace


def test_a_network_made_by_vagrant_libvirt_is_not_taken_for_labctls():
    made_by_vagrant = "<network><name>labctl-mgmt</name><ip address='192.168.121.1'/></network>"
    assert not mgmtnet.is_labctls(made_by_vagrant)
    assert mgmtnet.is_labctls(mgmtnet.network_xml())
