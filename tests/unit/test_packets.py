"""Packet evidence: decoding a capture recorded on the real lab (qemu VMs, keepalived stopped
gracefully on b1, the master of VI_1), and the hand-over phases, duplicates, fidelity and
verdict computed from decoded records."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.model.lab import reference_lab
from labctl.observe.packets import ArpFrame, Decoded, TcpSegment, VrrpAdvert, decode_pcap
from labctl.report import analysis
from labctl.report import handover as phases
from labctl.scenario.packet_moments import key_moments

FIXTURE = Path(__file__).parent / "fixtures" / "pcap" / "failover-keepalived-stop.pcap"
# From the run's events: when labctl began stopping keepalived on b1, and starting it again.
STOP_T = 1795640293.7538497
START_T = 1795640304.0362632
LAB = reference_lab("l1")
B1, B2, B3 = (LAB.node(n).address for n in ("b1", "b2", "b3"))


@pytest.fixture(scope="module")
def recorded() -> Decoded:
    return decode_pcap(FIXTURE)


def test_the_recorded_capture_decodes_vrrp_arp_and_http(recorded):
    assert recorded.error is None and recorded.frames == 639
    first = recorded.adverts[0]
    assert (first.version, first.auth_type, first.advert_int) == (2, 1, 1.0)
    assert {a.vrid for a in recorded.adverts} == {55, 56, 57}
    # Every balancer advertised as master of its own VIP with priority 102.
    masters = {(a.source, a.vrid) for a in recorded.adverts if a.priority == 102}
    assert {(B1, 55), (B2, 56), (B3, 57)} <= masters
    assert [a for a in recorded.adverts if a.priority == 0 and a.source == B1], "b1's goodbye"
    assert any(a.gratuitous and a.sender_ip == "10.10.1.10" for a in recorded.arps)
    answers = [s for s in recorded.tcp if s.http_status == 200]
    assert answers and all(s.sport == 80 for s in answers)


def test_graceful_stop_hand_over_phases_match_the_skew_time(recorded):
    jitter = phases.advert_jitter(recorded, phases.Names.of(LAB), 1.0)
    seen = phases.handover(recorded, LAB, "VI_1", "b1", STOP_T, START_T, jitter)
    assert seen is not None and seen["graceful"] and seen["t0_advert"] == "priority 0"
    assert (seen["old_master"], seen["new_master"], seen["new_master_priority"]) == ("b1", "b2", 101)
    # Theory: (256 - 101)/256 = 0.6055 s after the priority-0 advert. Measured on the VMs: 0.609.
    assert seen["theory_s"] == pytest.approx(0.6055, abs=1e-4)
    assert seen["detection_s"] == pytest.approx(0.609, abs=0.002)
    assert seen["detection_s"] < seen["arp_s"] < seen["client_s"]
    assert seen["arp_s"] == pytest.approx(0.641, abs=0.002)
    assert seen["client_s"] == pytest.approx(0.690, abs=0.002)
    assert seen["matches_theory"] and seen["rivals"] == []
    # b2 (101) and b3 (100) differ by 3.9 ms; the VMs' timers jittered more than that.
    assert seen["decided_by"]["by"] == "noise" and seen["decided_by"]["gap_ms"] == 3.9


def test_untouched_vips_show_no_hand_over_and_preemption_is_seen(recorded):
    jitter = phases.advert_jitter(recorded, phases.Names.of(LAB), 1.0)
    assert phases.handover(recorded, LAB, "VI_2", "b1", STOP_T, START_T, jitter) is None
    back = phases.preemption(recorded, LAB, "VI_1", "b1", START_T, None)
    assert back is not None and back["interim_master"] == "b2"
    assert 0 < back["returned_after_s"] <= back["garp_after_s"] < 10
    assert phases.duplicate_advertisers(recorded, LAB) == {"VI_1": [], "VI_2": [], "VI_3": []}


def test_jitter_of_the_recorded_balancers_is_small_enough_to_judge(recorded):
    jitter = phases.advert_jitter(recorded, phases.Names.of(LAB), 1.0)
    assert set(jitter) == {"b1", "b2", "b3"}
    verdict = phases.fidelity(jitter, 1.0, {}, {"ok": True, "dropped": 0})
    assert verdict["ok"] and verdict["jitter_p95_ms"] < 100


# --- made-up records: the cases a short real capture does not contain ------------------------


def advert(t: float, source: str, vrid: int = 55, priority: int = 102) -> VrrpAdvert:
    mac = {B1: "52:54:00:00:00:02", B2: "52:54:00:00:00:03", B3: "52:54:00:00:00:04"}[source]
    return VrrpAdvert(t, source, mac, vrid, priority, 1.0, 2, 1, ("10.10.1.10",))


def dead_master(b2_first: float, b1_jitter: float = 0.0) -> Decoded:
    out = Decoded()
    out.adverts = [advert(100.0 + i + (b1_jitter if i % 2 else 0), B1) for i in range(10)]
    last = out.adverts[-1].t
    out.adverts += [advert(last + b2_first + i, B2, priority=101) for i in range(5)]
    out.arps = [ArpFrame(last + b2_first + 0.01, 1, "10.10.1.10", "52:54:00:00:00:03", "10.10.1.10")]
    out.tcp = [TcpSegment(last + b2_first + 0.1, "10.10.1.10", "10.10.1.1", 80, 40000, "PA", "52:54:00:00:00:11", 200)]
    return out


def test_a_dead_master_is_detected_after_the_master_down_interval():
    decoded = dead_master(3.6055)
    jitter = phases.advert_jitter(decoded, phases.Names.of(LAB), 1.0)
    seen = phases.handover(decoded, LAB, "VI_1", "b1", 109.2, None, jitter)
    assert not seen["graceful"] and seen["theory_s"] == pytest.approx(3.6055, abs=1e-4)
    assert seen["detection_s"] == pytest.approx(3.6055, abs=1e-3) and seen["matches_theory"]
    assert seen["arp_s"] == pytest.approx(3.6155, abs=1e-3)
    assert seen["client_s"] == pytest.approx(3.7055, abs=1e-3)


def test_a_late_take_over_does_not_match_theory():
    decoded = dead_master(5.0)
    jitter = phases.advert_jitter(decoded, phases.Names.of(LAB), 1.0)
    seen = phases.handover(decoded, LAB, "VI_1", "b1", 109.2, None, jitter)
    assert seen["detection_s"] == pytest.approx(5.0, abs=1e-3) and not seen["matches_theory"]


def graceful_stop(b2_first: float, late_s: float) -> Decoded:
    """b1 advertises every second (every other advert LATE_S late), says goodbye (priority 0)
    at 110.0; b2 takes over B2_FIRST after it."""
    out = Decoded()
    out.adverts = [advert(100.0 + i + (late_s if i % 2 else 0), B1) for i in range(10)]
    out.adverts += [advert(110.0, B1, priority=0)]
    out.adverts += [advert(110.0 + b2_first + i, B2, priority=101) for i in range(5)]
    return out


def test_a_hand_over_late_by_twice_the_runs_worst_lateness_still_matches_theory():
    # Seen on CI's kind of host: detection 0.747 s against 0.6055 s, the balancers' adverts
    # straying by up to 52 ms. 15 % of theory plus the winner's p95 alone (0.125 s) failed it.
    decoded = graceful_stop(0.747, late_s=0.052)
    jitter = phases.advert_jitter(decoded, phases.Names.of(LAB), 1.0)
    assert max(j["max_ms"] for j in jitter.values()) == pytest.approx(52.0, abs=0.5)
    seen = phases.handover(decoded, LAB, "VI_1", "b1", 109.9, None, jitter)
    assert seen["graceful"] and seen["theory_s"] == pytest.approx(0.6055, abs=1e-4)
    assert seen["tolerance_s"] == pytest.approx(0.15 * 0.6055 + 2 * 0.052, abs=2e-3)
    assert seen["matches_theory"]


def test_the_allowance_follows_the_measured_lateness_not_a_fixed_margin():
    # The same 0.747 s on a run whose balancers kept time to 5 ms: too late to be noise.
    quiet = graceful_stop(0.747, late_s=0.005)
    jitter = phases.advert_jitter(quiet, phases.Names.of(LAB), 1.0)
    assert not phases.handover(quiet, LAB, "VI_1", "b1", 109.9, None, jitter)["matches_theory"]
    # And a take-over 0.4 s late stays visible beside 52 ms of lateness.
    noisy = graceful_stop(1.0, late_s=0.052)
    jitter = phases.advert_jitter(noisy, phases.Names.of(LAB), 1.0)
    assert not phases.handover(noisy, LAB, "VI_1", "b1", 109.9, None, jitter)["matches_theory"]


def test_two_sources_advertising_one_vrid_are_a_split_brain():
    decoded = Decoded()
    decoded.adverts = [advert(10.0 + i, B1) for i in range(8)] + [advert(13.3 + i, B2, priority=101) for i in range(8)]
    found = phases.duplicate_advertisers(decoded, LAB)["VI_1"]
    assert len(found) == 1 and found[0]["sources"] == ["b1", "b2"]
    assert found[0]["kind"] == "split brain" and found[0]["duration_s"] == pytest.approx(3.7)
    # One stray advert from a backup whose timer fired with the master's: contention only.
    decoded.adverts = [advert(10.0 + i, B1) for i in range(8)] + [advert(13.3, B3, priority=100)]
    [stray] = phases.duplicate_advertisers(decoded, LAB)["VI_1"]
    assert stray["kind"] == "contention" and stray["sources"] == ["b1", "b3"]


def test_starved_balancers_make_timing_unjudgeable():
    decoded = dead_master(3.6055, b1_jitter=0.3)
    jitter = phases.advert_jitter(decoded, phases.Names.of(LAB), 1.0)
    verdict = phases.fidelity(jitter, 1.0, {"cores": 2, "load1_max": 9.0}, {"ok": True})
    assert not verdict["ok"] and "jitter" in verdict["reasons"][0]
    missing = phases.fidelity({}, 1.0, {}, {"ok": False, "error": "tcpdump is not installed"})
    assert missing["reasons"] == ["no packet evidence: tcpdump is not installed"]


def summary_with(failed_metric: str, fidelity_ok: bool) -> dict:
    return {
        "error": None,
        "fidelity": {"ok": fidelity_ok, "reasons": [] if fidelity_ok else ["jitter 300 ms"]},
        "expectations": [
            {"name": "moved", "metric": "vips.VI_1.moved_after_s", "passed": True},
            {"name": "x", "metric": failed_metric, "passed": False, "reason": "not measured"},
        ],
    }


@pytest.mark.parametrize(
    "metric, fidelity_ok, expected",
    [
        ("vips.VI_1.matches_theory", False, "inconclusive"),
        ("vips.VI_1.matches_theory", True, "fail"),
        ("failover.duplicate_detected", False, "fail"),  # not a timing figure: a real failure
    ],
)
def test_verdict_is_inconclusive_only_for_timing_on_a_poor_host(metric, fidelity_ok, expected):
    result = analysis.verdict(summary_with(metric, fidelity_ok))
    assert result["verdict"] == expected
    if expected == "inconclusive":
        assert any("jitter 300 ms" in r for r in result["reasons"])


def test_verdict_passes_when_every_expectation_held_and_fails_on_an_error():
    summary = summary_with("vips.VI_1.outage_s", True)
    summary["expectations"][1]["passed"] = True
    assert analysis.verdict(summary)["verdict"] == "pass"
    summary["error"] = "StepFailed: boom"
    assert analysis.verdict(summary)["verdict"] == "fail"


def test_key_moments_name_the_protocols_turning_points(recorded):
    moments = key_moments(recorded, LAB)
    vi1 = [(m["what"], m["node"]) for m in moments if m["vip"] == "VI_1"]
    # b1 says goodbye, b2 takes over and announces the VIP, b1 comes back and takes it again.
    assert ("vrrp_priority_0", "b1") in vi1
    goodbye = vi1.index(("vrrp_priority_0", "b1"))
    assert vi1[goodbye + 1] == ("vrrp_first_advert", "b2")
    assert vi1[goodbye - 1] == ("vrrp_last_advert", "b1")
    assert vi1[goodbye + 2] == ("gratuitous_arp", "b2")
    back = vi1.index(("vrrp_first_advert", "b1"), goodbye)
    assert vi1[back + 1] == ("gratuitous_arp", "b1")
    assert [m["t"] for m in moments] == sorted(m["t"] for m in moments)


def test_the_new_master_is_the_backup_that_kept_the_vip_not_the_first_to_claim_it():
    """Recorded on the VMs (capacity-traffic, b1 powered off): b3's and b2's master-down timers
    fired 0.3 ms apart; b3 (100) advertised once, b2 (101) a moment later and kept VI_1, and
    the client's ARP answer came from b2's gratuitous ARP first (b3 sent one too, as it left)."""
    decoded = Decoded()
    decoded.adverts = [advert(1795661222.709997 + i, B1) for i in range(18)]  # last: 239.709997
    decoded.adverts.append(advert(1795661243.32108, B3, priority=100))
    decoded.adverts += [advert(1795661243.321386 + i, B2, priority=101) for i in range(10)]
    decoded.arps = [
        ArpFrame(1795661243.395909, 1, "10.10.1.10", "52:54:00:00:00:03", "10.10.1.10"),
        ArpFrame(1795661243.446403, 1, "10.10.1.10", "52:54:00:00:00:04", "10.10.1.10"),
    ]
    jitter = {"b1": {"p95_ms": 13.7}, "b2": {"p95_ms": 22.7}, "b3": {"p95_ms": 16.2}}
    seen = phases.handover(decoded, LAB, "VI_1", "b1", 1795661240.33562, None, jitter)
    assert seen["new_master"] == "b2" and seen["new_master_priority"] == 101
    assert seen["first_claim"] == "b3" and seen["rivals"] == ["b3"]
    assert seen["detection_s"] == pytest.approx(3.6114, abs=1e-4)
    assert seen["arp_s"] == pytest.approx(3.6859, abs=1e-4)  # b2's ARP, not b3's
    assert seen["theory_s"] == pytest.approx(3.6055, abs=1e-4) and seen["matches_theory"]
    why = seen["decided_by"]["why"]
    assert "claimed the VIP first (b3) was decided by noise" in why and "b2 kept it" in why
