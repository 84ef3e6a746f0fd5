"""The traffic figures from records: counters to rates, a node's tap followed across a reboot,
the sender's offered rate, and a failure's survivors against the planner."""

from __future__ import annotations

from labctl.lab import tapcounters
from labctl.lab.tapcounters import Count
from labctl.model.lab import reference_lab
from labctl.report.traffic import interfaces, node_series, traffic
from labctl.scenario.traffic import Offered, parse_offered


def test_counter_lines_become_rates():
    counts = tapcounters.parse_lines("10.0 vnet1 0\n11.0 vnet1 1250000\nnoise\n12.0 vnet1 2500000\n12.5 vnet1 5\n")
    assert tapcounters.rates(counts, "vnet1") == [(11.0, 10e6), (12.0, 10e6)]  # a reset is skipped


def test_a_rebooted_node_is_followed_to_its_new_tap():
    events = [
        {"kind": "counters_start", "t": 1.0, "links": {"b1": "vnet0"}},
        {"kind": "action_details", "action": "shape", "node": "b1", "t": 5.0, "interface": "vnet7"},
    ]
    named = interfaces(events)["b1"]
    counts = [Count(t, "vnet0", int(t * 1000)) for t in (0, 1, 2, 3)]
    counts += [Count(t, "vnet7", int(t * 2000)) for t in (5, 6, 7)]
    assert node_series(counts, named) == [(1, 8000.0), (2, 8000.0), (3, 8000.0), (6, 16000.0), (7, 16000.0)]


def test_the_sender_records_parse():
    text = "@start 1.5e+07\n100.0 10.10.1.10 0\n101.0 10.10.1.10 625000\n@end\n"
    assert parse_offered(text) == [Offered(100.0, "10.10.1.10", 0), Offered(101.0, "10.10.1.10", 625000)]


def test_survivors_of_a_failure_against_the_plan():
    """Reference lab, 15 Mbit/s over 3 VIPs, links of 10 Mbit/s, b1 off from t=10 to t=30: b2
    carries VI_1 and VI_2 at 9.8 Mbit/s (2 % lost), b3 VI_3 at 5."""
    lab = reference_lab()
    taps = {"b1": "v1", "b2": "v2", "b3": "v3"}
    events = [
        {"kind": "counters_start", "t": 0.0, "links": taps},
        {"kind": "action_details", "action": "shape", "node": "b1", "t": 0.0, "interface": "v1", "rate_bps": 10e6},
        {"kind": "action", "action": "power-off", "node": "b1", "t_start": 10.0, "t_end": 10.5},
        {"kind": "action", "action": "power-on", "node": "b1", "t_start": 30.0, "t_end": 60.0},
    ]
    rate = {"b1": lambda t: 5e6 if t < 10 else 0, "b2": lambda t: 5e6 if t < 10 else 9.8e6, "b3": lambda t: 5e6}
    counts = []
    for node, tap in taps.items():
        total = 0.0
        for t in range(0, 40):
            total += rate[node](t) / 8
            counts.append(Count(float(t + 1), tap, int(total)))
    offered = [Offered(float(t), v.address, int(t * 5e6 / 8)) for t in range(0, 40) for v in lab.vips]
    held = {"VI_1": ["b2"], "VI_2": ["b2"], "VI_3": ["b3"]}
    figures = traffic(lab, events, counts, offered, lambda name, t: held[name] if t > 10 else [f"b{name[-1]}"])
    assert figures is not None and figures["link_bps"] == 10e6 and figures["offered_bps"] == 15e6
    (failure,) = figures["failures"]
    assert failure["down"] == "b1"
    assert failure["survivors"]["b2"] == {
        "vips": ["VI_1", "VI_2"], "delivered_bps": 9800000, "offered_bps": 10000000,
        "load_pct": 98.0, "loss_pct": 2.0, "predicted_pct": 100.0, "matches": True,
    }  # fmt: skip
    assert failure["survivors"]["b3"]["load_pct"] == 50.0 and failure["survivors"]["b3"]["predicted_pct"] == 50.0
    assert figures["baseline"]["nodes"]["b1"]["load_pct"] == 50.0
    assert figures["matches_prediction"] is True
    assert traffic(lab, events, [], offered, lambda n, t: []) is None
