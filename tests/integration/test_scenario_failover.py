"""The failover scenario end to end in network namespaces, through NamespaceLab.

Three balancer namespaces run real keepalived with the lab's rendered keepalived.conf; each also
runs nginx answering with its own name, so the probe shows which balancer holds the VIP (the
host kernel has no IPVS to forward to the reals). Two real namespaces run nginx with the VIPs on
lo and the DR ARP sysctls. The client namespace runs the real probe script.
"""

from __future__ import annotations

import json
import struct
from dataclasses import replace
from pathlib import Path

import pytest

from labctl.model.lab import Lab, reference_lab
from labctl.report.analysis import holder_timeline, holders_at
from labctl.report.build import build, load_run
from labctl.resources import scenarios_dir
from labctl.scenario.engine import Engine
from labctl.scenario.loader import read_scenario
from tests.support.nslab import ns_lab  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration


def _valid_png(path: Path) -> bool:
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    width, height = struct.unpack(">II", data[16:24])
    return width > 100 and height > 100


@pytest.mark.parametrize("method", ["keepalived-stop", "keepalived-kill", "poweroff"])
def test_failover_in_namespaces(ns_lab, tmp_path: Path, method: str):
    scenario = read_scenario(
        scenarios_dir() / "failover.yaml",
        {
            "method": method,
            "capture_ipvs": "false",
            "settle": "2",
            "down_for": "4",
            "after": "2",
            "max_preemption": "20",
        },
        ns_lab.lab,
    )
    out = tmp_path / "results" / f"failover-{method}"
    Engine(ns_lab, scenario, out).run()
    summary = build(out)

    for name in (
        "summary.json",
        "events.jsonl",
        "report.md",
        "timeline.png",
        "run.json",
        "clock.json",
        "probe-main.jsonl",
        "scenario.yaml",
    ):
        assert (out / name).exists(), name
    assert list(out.glob("capture-b1.*.txt"))
    assert _valid_png(out / "timeline.png")
    assert "![timeline](timeline.png)" in (out / "report.md").read_text()
    assert json.loads((out / "summary.json").read_text())["vips"]["VI_1"]

    vi1 = summary["vips"]["VI_1"]
    print(
        method,
        json.dumps(
            {
                k: vi1.get(k)
                for k in (
                    "outage_s",
                    "failed",
                    "moved_after_s",
                    "new_holder",
                    "theory_s",
                    "duplicate_s",
                    "preemption_s",
                )
            }
        ),
    )
    assert summary["error"] is None
    assert vi1["new_holder"] == "b2"  # VI_1: b1 102, b2 101, b3 100
    # Sanity bounds from lab-facts (namespaces): graceful 0.62-0.66 s, dead master 3.0-3.6 s.
    if method == "keepalived-stop":
        assert 0.2 < vi1["moved_after_s"] < 2.0
        assert summary["failover"]["duplicate_detected"] is False
    else:
        assert 2.0 < vi1["moved_after_s"] < 5.5
        # SIGKILL leaves the VIP on b1 (two holders); a powered-off b1 holds nothing.
        assert summary["failover"]["duplicate_detected"] is (method == "keepalived-kill")
    if method == "poweroff":
        # The client keeps sending to b1's MAC until b2's gratuitous ARP: a real outage.
        assert 2.0 < vi1["outage_s"] < 6.0
    assert vi1["preemption_s"] is not None
    # The packets recorded on the client's bridge port tell the hand-over at ms resolution.
    assert (out / "capture.pcap").read_bytes()[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4")
    seen = summary["disruptions"][0]["vips"]["VI_1"]["packets"]
    assert seen["old_master"] == "b1" and seen["new_master"] == "b2"
    assert seen["graceful"] is (method == "keepalived-stop")
    tolerance = 0.15 * seen["theory_s"] + summary["fidelity"]["jitter_p95_ms"] / 1000
    if method == "keepalived-stop":
        # A priority-0 advert, then b2 waits its skew time: (256 - 101)/256 = 0.6055 s.
        assert seen["t0_advert"] == "priority 0" and seen["theory_s"] == pytest.approx(0.6055, abs=1e-3)
    else:
        # Nothing from b1 after its last advert: 3 x 1 s + 0.6055 s.
        assert seen["t0_advert"] == "last advert" and seen["theory_s"] == pytest.approx(3.6055, abs=1e-3)
    assert abs(seen["detection_s"] - seen["theory_s"]) <= tolerance, seen
    assert seen["detection_s"] <= seen["arp_s"] <= seen["client_s"]
    assert vi1["source"] == "packets" and summary["verdict"]["verdict"] == "pass"
    # VIPs whose master stayed up were never disturbed. On a host too busy to serve its own
    # probes (seen with six emulated VMs booting beside this test) their requests time out:
    # the client-path control counts those, and nothing else may be lost there.
    path, before = summary["client_path"], summary["requests"].get("failed_before_first_action", 0)
    for untouched in ("VI_2", "VI_3"):
        lost = summary["vips"][untouched]["failed"]
        timeouts = path["controls"].get(untouched, {}).get("timeouts", 0)
        assert lost == 0 or (not path["ok"] and lost <= timeouts + before), (untouched, lost, path)
    failed = [e for e in summary["expectations"] if not e["passed"]]
    assert summary["passed"], failed


def test_without_a_host_side_capture_point_the_client_records_the_segment(ns_lab, tmp_path: Path):
    """The fallback for labs the host cannot listen to (VirtualBox, no sandbox): tcpdump in the
    client node, fetched at the end, its clock corrected by the measured offset."""
    ns_lab.capture_at = None
    scenario = read_scenario(
        scenarios_dir() / "failover.yaml",
        {
            "method": "keepalived-stop",
            "capture_ipvs": "false",
            "settle": "2",
            "down_for": "3",
            "after": "1",
            "max_preemption": "20",
        },
        ns_lab.lab,
    )
    out = tmp_path / "results" / "failover-node-capture"
    Engine(ns_lab, scenario, out).run()
    summary = build(out)
    capture = json.loads((out / "run.json").read_text())["capture"]
    assert capture["ok"], capture
    assert capture["point"]["what"].startswith("eth0 inside c1")
    assert abs(capture["clock_offset"]) < 0.5  # one kernel clock here, measured over a shell
    seen = summary["disruptions"][0]["vips"]["VI_1"]["packets"]
    assert seen["t0_advert"] == "priority 0" and seen["new_master"] == "b2"
    assert abs(seen["detection_s"] - seen["theory_s"]) <= 0.15 * seen["theory_s"] + 0.05


def _vi3_on_b3_only() -> Lab:
    base = reference_lab("nslab")
    return replace(base, vips=tuple(replace(v, priorities={"b3": 102}) if v.name == "VI_3" else v for v in base.vips))


@pytest.mark.parametrize("ns_lab", [_vi3_on_b3_only()], indirect=True, ids=["vi3-on-b3"])
def test_a_vip_without_backup_goes_dark_and_the_verdict_says_why(ns_lab, tmp_path: Path):
    """VI_3 configured on b3 alone (b1 and b2 run no instance of it): when b3's keepalived
    stops, nobody takes 10.10.1.30 over, the scenario's wait for a new holder times out, and the
    run fails on "the VIP moved to a backup" with the reason, the other VIPs untouched."""
    for node in ("b1", "b2"):
        assert "VI_3" not in (tmp_path / f"keepalived-{node}.conf").read_text()
    scenario = read_scenario(
        scenarios_dir() / "failover.yaml",
        {
            "method": "keepalived-stop",
            "vip": "VI_3",
            "capture_ipvs": "false",
            "settle": "2",
            "down_for": "2",
            "after": "2",
            "max_preemption": "20",
        },
        ns_lab.lab,
    )
    out = tmp_path / "results" / "failover-vi3"
    Engine(ns_lab, scenario, out).run()
    summary = build(out)

    assert summary["error"] is None
    down = summary["disruptions"][0]
    assert (down["node"], down["phase"]) == ("b3", "down")
    why = "VI_3 is configured on b3 only: no balancer takes it over when b3 fails"
    vi3 = down["vips"]["VI_3"]
    assert (vi3["moved"], vi3["new_holder"], vi3["expected_new_holder"], vi3["no_backup"]) == (False, None, None, why)
    assert vi3["failed"] > 0  # the client saw it go dark
    # Held by nobody from the stop until b3's keepalived came back.
    run = load_run(out)
    up = next(e for e in run.events if e.get("kind") == "action" and e.get("phase") == "up")
    timeline = holder_timeline(run.samples, "10.10.1.30")
    assert holders_at(timeline, down["t_end"] + 2.0) == [] and holders_at(timeline, up["t_start"] - 0.5) == []
    assert summary["vips"]["VI_3"]["preemption_s"] is not None  # b3 took it back
    assert summary["verdict"]["verdict"] == "fail"
    assert f"the VIP moved to a backup: not measured: {why}" in summary["verdict"]["reasons"]
    # b3 was a backup of VI_1 and VI_2 only: their masters kept them, their clients saw nothing.
    for name, master in (("VI_1", "b1"), ("VI_2", "b2")):
        assert summary["vips"][name]["failed"] == 0, name
        assert down["vips"][name]["holders_before"] == [master]
        assert holders_at(holder_timeline(run.samples, ns_lab.lab.vip(name).address), up["t_start"] - 0.5) == [master]
