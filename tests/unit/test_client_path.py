"""The client's outage is judged only when the probe path itself kept its requests: VIPs no
action touched are the control group (CI once saw VI_1's outage at 8.1 s with the hand-over on
time, while untouched VI_2 lost two requests to timeouts)."""

from __future__ import annotations

from labctl.observe.probes import ProbeRecord
from labctl.report.analysis import verdict
from labctl.report.clientpath import client_path, untouched_vips

TIMELINES = {
    "VI_1": [{"start": 0, "end": 10, "holders": ["b1"]}, {"start": 10, "end": 60, "holders": ["b2"]}],
    "VI_2": [{"start": 0, "end": 60, "holders": ["b2"]}],
    "VI_3": [{"start": 0, "end": 60, "holders": ["b3"]}],
}
ADDRESSES = {"VI_1": "10.10.1.10", "VI_2": "10.10.1.20", "VI_3": "10.10.1.30"}


def _probes(address: str, failures: dict[int, str]) -> list[ProbeRecord]:
    return [
        ProbeRecord(i / 10, address, i, i not in failures, None if i in failures else 200, failures.get(i), 5.0, "r1")
        for i in range(600)
    ]


def _outage_failed(path: dict) -> dict:
    return {
        "expectations": [
            {"name": "the VIP moved", "metric": "vips.VI_1.moved_after_s", "passed": True},
            {"name": "the client outage stayed bounded", "metric": "vips.VI_1.outage_s", "passed": False,
             "reason": "8.094 > 6.0"},
        ],
        "fidelity": {"ok": True, "reasons": []},
        "client_path": path,
    }  # fmt: skip


def test_only_vips_held_by_one_untouched_balancer_are_controls():
    assert untouched_vips(TIMELINES, {"b1"}) == ["VI_2", "VI_3"]
    assert untouched_vips(TIMELINES, {"b1", "b3"}) == ["VI_2"]
    both = {"VI_2": [{"start": 0, "end": 60, "holders": ["b1", "b2"]}]}
    assert untouched_vips(both, set()) == []  # two holders: a split brain is no control


def test_timeouts_on_an_untouched_vip_make_the_outage_inconclusive():
    by_address = {
        "10.10.1.10": _probes("10.10.1.10", dict.fromkeys(range(100, 180), "timeout")),
        "10.10.1.20": _probes("10.10.1.20", {300: "timeout", 301: "timeout"}),
        "10.10.1.30": _probes("10.10.1.30", {}),
    }
    path = client_path(TIMELINES, by_address, ADDRESSES, {"b1"}, since=10.0)
    assert not path["ok"]
    assert path["controls"] == {"VI_2": {"requests": 510, "timeouts": 2}, "VI_3": {"requests": 510, "timeouts": 0}}
    judged = verdict(_outage_failed(path))
    assert judged["verdict"] == "inconclusive"
    assert judged["reasons"][0].startswith("client probes too disturbed to judge outages: 2 of 510 requests to VI_2")
    assert judged["reasons"][-1] == "not judged: the client outage stayed bounded: 8.094 > 6.0"


def test_a_quiet_probe_path_leaves_the_outage_failed():
    by_address = {a: _probes(a, {}) for a in ADDRESSES.values()}
    path = client_path(TIMELINES, by_address, ADDRESSES, {"b1"}, since=10.0)
    assert path["ok"] and path["reasons"] == []
    assert verdict(_outage_failed(path))["verdict"] == "fail"


def test_refusals_are_the_labs_answer_not_noise():
    """A real with nginx stopped refuses: that is the experiment's to judge, not the path's."""
    by_address = {a: _probes(a, dict.fromkeys(range(200, 260), "refused")) for a in ADDRESSES.values()}
    path = client_path(TIMELINES, by_address, ADDRESSES, {"b1"}, since=10.0)
    assert path["ok"]
    assert verdict(_outage_failed(path))["verdict"] == "fail"


def test_a_non_client_failure_is_never_excused_by_the_probe_path():
    summary = _outage_failed({"ok": False, "reasons": ["noise"]})
    summary["expectations"].append(
        {"name": "the hand-over matched", "metric": "vips.VI_1.matches_theory", "passed": False, "reason": "no"}
    )
    assert verdict(summary)["verdict"] == "fail"
