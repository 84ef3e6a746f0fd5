"""The link experiments on real VMs (the session's reference lab, fixture `lab_dir`): a split
brain detected and recovered from, and the traffic experiment with one balancer down.
Both leave the lab as planned (every VIP at its planned master, no shaping or filter left).

Needs on the host: nftables (`nft`, for the VRRP cut on a tap) and tc (iproute2). The traffic
is iperf3 inside the lab (in the box): one UDP client per VIP on c1, one server per VIP on each
real, carried by IPVS services (source hashing, sloppy TCP) that the run adds on every balancer
and removes again. This is the only place IPVS forwards the experiment's traffic: the hosts
that run the integration tests have no ip_vs module.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.labrun import PNG_MAGIC, assert_complete_results, labctl, nothing_left_on_the_taps, run_scenario

pytestmark = pytest.mark.e2e

PLANNED = {"VI_1": ["b1"], "VI_2": ["b2"], "VI_3": ["b3"]}
# The scale: each link stands for 1 Gbit/s, the load for 1.5 Gbit/s. An emulated VM must take
# in a full link (about 1000 frames/s at 10 Mbit/s); if it cannot, lower both, keeping 2:3.
LINK, TRAFFIC = "10Mbit", "15Mbit"


def _as_planned(folder) -> None:
    status = json.loads(labctl(folder, "status", "--json").stdout)
    assert {v: e["holders"] for v, e in status["vips"].items()} == PLANNED


def test_split_brain_is_detected_and_the_lab_recovers(lab_dir):
    """About 40 s: VRRP cut toward b1 for 8 s; b1 claims VI_2 and VI_3 beside their masters."""
    folder, name, _, _ = lab_dir
    proc, summary, results = run_scenario(folder, "split-brain", "--set", "cut_for=8", "--set", "after=4")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_complete_results(results)
    split = summary["split_brain"]
    assert split["cut"][0]["at"] == "host"  # on b1's tap: nothing changed inside the VM
    assert split["detected"] is True
    assert split["duplicate_holders"] == {"VI_2": ["b1", "b2"], "VI_3": ["b1", "b3"]}
    assert split["duration_s"] >= 3.0
    assert split["recovered"] is True and split["recovery_s"] <= 3.0
    _as_planned(folder)
    nothing_left_on_the_taps(name)


def test_traffic_with_one_balancer_off_fills_the_survivor_that_takes_two_vips(lab_dir):
    """About a minute: links shaped to 10 Mbit/s, 15 Mbit/s offered over 3 VIPs, b1's keepalived
    stopped for 9 s: b2 carries VI_1 and VI_2 (a full link), b3 half a link; the receivers
    (iperf3 servers on the reals) got traffic for every VIP, and counted the loss. (A power-off
    moves the VIPs the same way and costs a boot: test_zz_teardown kills this scenario with b1
    powered off, and the next `up` puts back what it left.)"""
    folder, name, _, _ = lab_dir
    proc, summary, results = run_scenario(
        folder,
        "capacity-traffic",
        "--set", "down=b1", "--set", "method=keepalived-stop", "--set", f"link={LINK}",
        "--set", f"traffic={TRAFFIC}", "--set", "down_for=9", "--set", "settle=3",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (results / "load.png").read_bytes()[:8] == PNG_MAGIC
    (failure,) = summary["capacity"]["failures"]
    assert failure["down"] == "b1"
    b2, b3 = failure["survivors"]["b2"], failure["survivors"]["b3"]
    print(json.dumps(failure))
    # The prediction is the planner's, from the load asked (CI once failed on 99.9 == 100.0 when
    # the prediction still followed the measured offer); 0.05 is half its last printed digit.
    assert summary["traffic"]["planned_bps"] == pytest.approx(15e6, rel=1e-3)
    assert b2["predicted_pct"] == pytest.approx(100.0, abs=0.05) and b3["predicted_pct"] == pytest.approx(
        50.0, abs=0.05
    )
    # The loads are measured: judged against what the emulated client really offered each
    # survivor's VIPs (a slow host offers less than asked), with 10 points for the tap's
    # one-second sampling and the shaper's bucket.
    offered = {n: s["offered_bps"] for n, s in summary["traffic"]["failures"][0]["survivors"].items()}
    link = summary["traffic"]["link_bps"]
    assert b2["load_pct"] >= min(100.0, 100 * offered["b2"] / link) - 10, (b2, offered)
    assert abs(b3["load_pct"] - 100 * offered["b3"] / link) <= 10, (b3, offered)
    # What the receivers got: a loss figure for every survivor, something delivered for every
    # VIP (before the failure and during it), and never more than was offered.
    assert b2["loss_pct"] is not None and b3["loss_pct"] is not None
    figures = summary["traffic"]
    for window in (figures["baseline"], figures["failures"][0]):
        for vip, seen in window["vips"].items():
            assert seen["delivered_bps"] and seen["delivered_bps"] > 0, (vip, seen)
            assert seen["loss_pct"] is not None, (vip, seen)
    assert all(figures["delivered_per_vip_bps"][v] > 0 for v in PLANNED), figures["delivered_per_vip_bps"]
    assert failure["offered_bps"] and failure["delivered_bps"] <= failure["offered_bps"] * 1.02
    assert figures["delivered_bps"] <= figures["offered_bps"] * 1.02
    _as_planned(folder)
    nothing_left_on_the_taps(name)
