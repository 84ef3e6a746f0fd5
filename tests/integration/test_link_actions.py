"""Link actions for real, in network namespaces: a balancer and a client on a bridge whose
ports stand for the VMs' taps. Loss and VRRP cuts are nftables tables on the port (the host
side), netem and tbf are qdiscs; each is measured with ping or iperf3 and then undone."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from labctl.lab.host import netns
from labctl.lab.links.linkshaping import HostLink
from labctl.model.lab import NetworkSettings, reference_lab
from labctl.observe import tapcounters
from labctl.observe.iperf import WIRE_OVERHEAD, parse_fetched
from labctl.observe.runrecords import PHASE
from labctl.scenario import actions, traffic
from labctl.scenario.actions import ActionFailed, Restorer, perform
from tests.support import netmeasure
from tests.support.nsaccess import NamespaceLab

pytestmark = pytest.mark.integration


@pytest.fixture
def pair(lab_segment, tmp_path: Path):
    """b1 and c1 of the reference lab on one segment; their bridge ports are their links."""
    if shutil.which("nft") is None:
        pytest.skip("nft (nftables) is not installed")
    lab = replace(reference_lab("links"), network=NetworkSettings(interface="eth0"))
    segment = lab_segment({"b1": "10.10.1.2/24", "c1": "10.10.1.100/24"})
    links = {"b1": HostLink(segment.bridge_ns, "v1", "b1's port"), "c1": HostLink(segment.bridge_ns, "v2", "c1's")}
    access = NamespaceLab(lab, {"b1": segment.ns("b1"), "c1": segment.ns("c1")}, tmp_path, links=links)
    echo = netmeasure.echo_server(segment.ns("b1"), "10.10.1.2")
    try:
        yield segment, access
    finally:
        netmeasure.stop(echo)
        access.close()


# A clear veth loses nothing, but a host busy enough to let one echo outlive its timeout loses
# one of 20 (5 %): "clear" and "blocked" are judged with that margin, never with ==.
CLEAR_MAX_PCT = 5.0
BLOCKED_MIN_PCT = 95.0


def _ping(segment, count: int = 200, gap: float = 0.002) -> tuple[float, float]:
    """(loss %, median RTT ms) of COUNT UDP echoes from c1 to b1."""
    result = netmeasure.echo(segment.ns("c1"), "10.10.1.2", count, gap)
    return result.loss_pct, result.rtt_ms


def _tables(segment, node: str | None = None) -> str:
    return segment.run(node, ["nft", "list", "tables"]).stdout


def test_loss_on_the_host_side_is_measured_and_undone(pair):
    segment, access = pair
    restorer = Restorer()
    assert _ping(segment, 50)[0] <= CLEAR_MAX_PCT
    details = perform(access, "b1", "impair", restorer, {"loss": 30})
    assert details["at"] == "host" and details["mechanism"] == "nftables" and details["interface"] == "v1"
    assert "labctl_loss_v1" in _tables(segment)
    assert restorer.pending == {("b1", "impairment"): "impair-clear"}
    loss, _ = _ping(segment, 300)
    # 30 % each way: a ping and its answer both survive 0.7 x 0.7 = 49 % of the time.
    print(f"loss 30% both ways: ping loss {loss}% (expected 51%)")
    assert 38 <= loss <= 64
    for node, undo in restorer.undo_list():
        perform(access, node, undo, restorer)
    assert "labctl_" not in _tables(segment)
    assert restorer.pending == {}
    assert _ping(segment, 100)[0] <= CLEAR_MAX_PCT


def test_loss_in_one_direction_and_inside_the_node(pair):
    segment, access = pair
    restorer = Restorer()
    perform(access, "b1", "impair", restorer, {"loss": 100, "direction": "from", "at": "node"})
    ruleset = segment.run("b1", ["nft", "list", "ruleset"]).stdout
    assert "hook egress" in ruleset and "hook ingress" not in ruleset  # what leaves b1
    assert "labctl_" not in _tables(segment)  # nothing on the host side
    assert _ping(segment, 20)[0] >= BLOCKED_MIN_PCT
    perform(access, "b1", "impair-clear", restorer)
    assert "labctl_" not in _tables(segment, "b1")
    assert _ping(segment, 20)[0] <= CLEAR_MAX_PCT


def test_a_killed_run_is_put_back_from_its_journal(pair, tmp_path: Path):
    segment, access = pair
    journal = tmp_path / "journal.json"
    running = Restorer(journal=journal)
    perform(access, "b1", "impair", running, {"loss": 50})
    perform(access, "c1", "vrrp-cut", running, {})
    assert json.loads(journal.read_text())["pending"]
    # The run dies here; the next labctl finds the journal and replays it.
    restorer = Restorer.load(journal)
    assert restorer is not None
    done, failed = restorer.replay(access)
    assert failed == [] and sorted(done) == ["b1: impair-clear", "c1: vrrp-restore"], done
    assert "labctl_" not in _tables(segment)
    assert not journal.exists()


def test_vrrp_cut_drops_protocol_112_only(pair, tmp_path: Path):
    segment, access = pair
    restorer = Restorer()
    perform(access, "b1", "vrrp-cut", restorer, {})
    ruleset = segment.run(None, ["nft", "list", "table", "netdev", "labctl_vrrp_v1"]).stdout
    assert ruleset.count("ip protocol vrrp drop") == 2  # toward b1 and from it
    assert _ping(segment, 20)[0] <= CLEAR_MAX_PCT  # everything else passes
    # A VRRP-sized protocol-112 packet from c1: b1's port drops it (counted on the host side).
    sent = _send_proto(segment, "c1", "10.10.1.2", 112)
    received = _count_proto(segment, "b1", 112, lambda: _send_proto(segment, "c1", "10.10.1.2", 112))
    assert sent and received == 0
    perform(access, "b1", "vrrp-restore", restorer)
    assert _count_proto(segment, "b1", 112, lambda: _send_proto(segment, "c1", "10.10.1.2", 112)) > 0


def _send_proto(segment, node: str, address: str, proto: int) -> bool:
    code = (
        "import socket,time\n"
        f"s=socket.socket(socket.AF_INET,socket.SOCK_RAW,{proto})\n"
        f"[s.sendto(b'x'*20,('{address}',0)) or time.sleep(0.02) for _ in range(10)]\n"
    )
    return segment.run(node, ["python3", "-c", code], check=False).returncode == 0


def _count_proto(segment, node: str, proto: int, send) -> int:
    """How many protocol-PROTO packets NODE receives while SEND runs."""
    code = (
        "import socket\n"
        f"s=socket.socket(socket.AF_INET,socket.SOCK_RAW,{proto}); s.settimeout(1.5); n=0\n"
        "try:\n    while True: s.recv(100); n+=1\nexcept OSError: pass\nprint(n)\n"
    )
    receiver = subprocess.Popen(netns.exec_argv(segment.ns(node), ["python3", "-c", code]), stdout=subprocess.PIPE)
    try:
        import time

        time.sleep(0.3)
        send()
        out, _ = receiver.communicate(timeout=10)
    finally:
        if receiver.poll() is None:
            receiver.kill()
    return int(out.decode().strip() or 0)


def _netem_works(segment) -> bool:
    probe = segment.run(None, ["tc", "qdisc", "add", "dev", "v2", "root", "netem", "delay", "1ms"], check=False)
    if probe.returncode == 0:
        segment.run(None, ["tc", "qdisc", "del", "dev", "v2", "root"])
    return probe.returncode == 0


def test_netem_delay_and_jitter_toward_the_node(pair):
    segment, access = pair
    if not _netem_works(segment):
        pytest.skip("this kernel has no netem (sch_netem): delay and jitter cannot be measured here")
    restorer = Restorer()
    _, before = _ping(segment, 20, 0.05)
    details = perform(access, "b1", "impair", restorer, {"delay": 40, "jitter": 5, "loss": 0})
    assert details["at"] == "host" and details["direction"] == "toward"
    assert "netem" in segment.run(None, ["tc", "qdisc", "show", "dev", "v1"]).stdout
    _, rtt = _ping(segment, 40, 0.05)
    print(f"netem delay 40 ms +- 5: RTT {before:.2f} -> {rtt:.2f} ms")
    assert 34 <= rtt - before <= 48
    perform(access, "b1", "impair-clear", restorer)
    assert "netem" not in segment.run(None, ["tc", "qdisc", "show", "dev", "v1"]).stdout


def test_without_netem_a_delay_is_refused_with_the_reason(pair):
    """Where neither the host nor the node kernel has netem, the action fails and says why
    (a lab's VMs have it: the Debian kernel ships sch_netem)."""
    segment, access = pair
    if _netem_works(segment):
        pytest.skip("this kernel has netem")
    with pytest.raises(ActionFailed, match="netem on node side of b1"):
        perform(access, "b1", "impair", Restorer(), {"delay": 40})
    assert "netem" not in segment.run("b1", ["tc", "qdisc", "show", "dev", "eth0"]).stdout


def test_link_actions_are_disruptions_of_their_own_phase():
    assert PHASE["impair"] == PHASE["vrrp-cut"] == "impair"
    assert actions.UNDO["shape"] == "unshape"


def test_tbf_holds_the_traffic_toward_a_node_to_its_rate(pair):
    segment, access = pair
    free = netmeasure.tcp_rate(segment.ns("c1"), segment.ns("b1"), "10.10.1.2", seconds=2)
    restorer = Restorer()
    details = perform(access, "b1", "shape", restorer, {"rate": "10Mbit"})
    assert details == {"at": "host", "interface": "v1", "rate_bps": 10e6}
    assert "tbf" in segment.run(None, ["tc", "qdisc", "show", "dev", "v1"]).stdout
    shaped = netmeasure.tcp_rate(segment.ns("c1"), segment.ns("b1"), "10.10.1.2", seconds=4)
    back = netmeasure.tcp_rate(segment.ns("b1"), segment.ns("c1"), "10.10.1.100", seconds=2)
    print(f"tbf 10 Mbit/s toward b1: TCP {free / 1e6:.0f} -> {shaped / 1e6:.2f} Mbit/s; from b1 {back / 1e6:.0f}")
    assert 8.5e6 <= shaped <= 10.6e6
    assert free > 50e6 and back > 50e6  # only the direction toward b1 is held
    perform(access, "b1", "unshape", restorer)
    assert "tbf" not in segment.run(None, ["tc", "qdisc", "show", "dev", "v1"]).stdout


def test_tap_counters_show_offered_and_delivered_rates(pair, tmp_path: Path):
    """20 Mbit/s of UDP from iperf3 in c1 into b1's link shaped to 10 Mbit/s: the client's log
    says 20 were offered, b1's port counters say 10 got through."""
    if shutil.which("iperf3") is None:
        pytest.skip("iperf3 is not installed")
    segment, access = pair
    perform(access, "b1", "shape", Restorer(), {"rate": "10Mbit"})
    counters = traffic.start_counters(access, "b1", tmp_path / "counters.txt", 0.5)
    spec = traffic.TrafficSpec("t", ("10.10.1.2",), 20e6)
    load = traffic.TrafficRun(access, spec, "c1", ["b1"], tmp_path)
    try:
        load.start_servers()
        started = load.start_clients(None)
        time.sleep(5)
    finally:
        load.stop()
        counters.stop()
    (sent,) = [t for t in parse_fetched((tmp_path / "traffic-t-c1.txt").read_text(), "c1")]
    wire = 8 * (spec.datagram + WIRE_OVERHEAD)
    offered_bps = sum(i.datagrams for i in sent.intervals) * wire / sent.intervals[-1].end
    counts = tapcounters.parse_lines((tmp_path / "counters.txt").read_text())
    series = [bps for t, bps in tapcounters.rates(counts, "v1") if started + 1.0 < t <= started + 4.5]
    delivered = sum(series) / len(series)
    print(f"offered {offered_bps / 1e6:.2f} Mbit/s, b1's shaped port carried {delivered / 1e6:.2f} Mbit/s")
    assert 19e6 <= offered_bps <= 21e6
    assert 9.0e6 <= delivered <= 10.5e6
    assert {c.interface for c in counts} >= {"v1", "v2", "br0"}
