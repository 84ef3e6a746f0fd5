"""The traffic experiment's iperf3 load for real, in network namespaces: labctl's own server and
client command lines (labctl.scenario.traffic) between a client namespace and a real's, the
real's link shaped on its bridge port with the tbf labctl puts on a balancer's tap, the logs
fetched the way a run fetches them, then parsed and reduced with the report's own arithmetic.
Offered above the shaped rate, the receiver counts the excess as lost; below it, nothing.

What this cannot show: IPVS. The host kernel has no ip_vs module, so here the VIP is routed
straight to the real (it sits on the real's lo, as in direct routing), and the services, the
source hashing and sloppy TCP that carry the load through the balancers are exercised only on
VMs (tests/e2e/test_experiments.py).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest

from labctl.lab.links.linkshaping import HostLink
from labctl.model.lab import NetworkSettings, reference_lab
from labctl.observe.iperf import parse_fetched
from labctl.report.traffic import rows, vip_figures
from labctl.scenario import traffic
from labctl.scenario.actions import Restorer, perform
from labctl.scenario.clock import measure_offset
from tests.support.nsaccess import NamespaceLab

pytestmark = pytest.mark.integration

VIP = "10.10.1.10"
SECONDS = 6.0


@pytest.fixture
def path(lab_segment, tmp_path: Path):
    """c1 and r1 on one segment, VIP on r1's lo and routed to r1 from c1; r1's port is its link."""
    if shutil.which("iperf3") is None:
        pytest.skip("iperf3 is not installed")
    lab = replace(reference_lab("iperf"), network=NetworkSettings(interface="eth0"))
    segment = lab_segment({"c1": "10.10.1.100/24", "r1": "10.10.1.11/24"})
    links = {"r1": HostLink(segment.bridge_ns, "v2", "r1's bridge port")}
    access = NamespaceLab(lab, {"c1": segment.ns("c1"), "r1": segment.ns("r1")}, tmp_path, links=links)
    segment.run("r1", ["ip", "addr", "add", f"{VIP}/32", "dev", "lo"])
    for key in ("all", "lo"):
        segment.run("r1", ["sysctl", "-qw", f"net.ipv4.conf.{key}.arp_ignore=1", f"net.ipv4.conf.{key}.arp_announce=2"])
    segment.run("c1", ["ip", "route", "add", f"{VIP}/32", "via", "10.10.1.11"])
    try:
        yield segment, access
    finally:
        for node in ("c1", "r1"):  # whatever a failed test left running, by its PID files
            access.run(node, traffic.stop_script(), timeout=30)
        access.close()


def _measure(access: NamespaceLab, tmp_path: Path, offered: str) -> dict:
    """OFFERED bits/s to the VIP for SECONDS through r1's link shaped to 10 Mbit/s: the
    steady seconds' figures, as the report computes them from the fetched logs."""
    restorer = Restorer()
    perform(access, "r1", "shape", restorer, {"rate": "10Mbit"})
    out = tmp_path / f"out-{offered}"
    out.mkdir()
    spec = traffic.TrafficSpec("t", (VIP,), float(offered))
    stopped: list[str] = []
    load = traffic.TrafficRun(access, spec, "c1", ["r1"], out, on_stopped=stopped.append)
    try:
        load.start_servers()
        started = load.start_clients(measure_offset(access, "c1"))
        time.sleep(SECONDS)
    finally:
        result = load.stop()
        perform(access, "r1", "unshape", restorer)
    assert result["errors"] == [] and stopped == ["c1", "r1"], result
    tests = []
    for node in ("c1", "r1"):
        raw = out / traffic.raw_name("t", node)
        tests += parse_fetched(raw.read_text(), node)
    assert {(t.role, t.vip) for t in tests} == {("client", VIP), ("server", VIP)}, tests
    events = [{"kind": "traffic_start", "t": started, "name": "t", "started": started, "datagram": spec.datagram}]
    found = rows(tests, events)
    # The steady part: after the first second, before the last.
    figures = vip_figures(found, VIP, started + 1.0, started + SECONDS - 0.5)
    print(f"offered {offered}: {figures}")
    return figures


def test_offered_above_the_shaped_rate_is_lost_at_the_receiver(path, tmp_path: Path):
    _, access = path
    figures = _measure(access, tmp_path, "20e6")
    assert 18.5e6 <= figures["offered_bps"] <= 21e6
    assert 8.5e6 <= figures["delivered_bps"] <= 10.6e6  # what a 10 Mbit/s tbf lets through
    assert 40 <= figures["loss_pct"] <= 60
    assert figures["datagrams"] > 0 and figures["lost"] > 0


def test_offered_below_the_shaped_rate_arrives(path, tmp_path: Path):
    _, access = path
    figures = _measure(access, tmp_path, "5e6")
    assert 4.6e6 <= figures["offered_bps"] <= 5.4e6
    assert figures["delivered_bps"] >= 0.97 * figures["offered_bps"]
    assert figures["loss_pct"] <= 1.0
