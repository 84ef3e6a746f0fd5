"""analysis on recorded probe and capture data (tests/unit/scenario_recordings.py)."""

from __future__ import annotations

import pytest

from labctl.observe.snapshot import parse_snapshots
from labctl.report import analysis
from labctl.report.build import load_run
from tests.support import scenario_recordings as rec


@pytest.fixture
def run(tmp_path):
    return load_run(rec.write_run(tmp_path / "run"))


def test_capture_parser_reads_the_reference_ipvs_table():
    samples = parse_snapshots(rec.capture_text("b1", "10.10.1.2"), "b1", offset=0.0)
    assert len(samples) == int(rec.END / rec.INTERVAL)
    first = samples[0]
    assert first.problems == []
    assert first.held(["10.10.1.10", "10.10.1.20"]) == {"10.10.1.10"}
    assert first.vrrp == {"VI_1": "MASTER", "VI_2": "BACKUP", "VI_3": "BACKUP"}
    service = first.ipvs.service("10.10.1.10")
    assert [(r.address, r.forward, r.weight) for r in service.reals] == [
        ("10.10.1.11", "Route", 1),
        ("10.10.1.12", "Route", 1),
    ]


def test_capture_offset_moves_samples_to_host_time():
    samples = parse_snapshots(rec.capture_text("b1", "10.10.1.2"), "b1", offset=2.5)
    assert samples[0].t == pytest.approx(rec.T0 - 2.5)


def test_capture_drops_a_sample_cut_short():
    text = rec.capture_text("b1", "10.10.1.2")
    cut = text[: text.rindex("@@ipvs")]  # the node died mid-sample
    assert len(parse_snapshots(cut, "b1")) == int(rec.END / rec.INTERVAL) - 1


def test_vrrp_theory():
    assert analysis.master_down_interval(1, 101) == pytest.approx(3.60546875)
    assert analysis.skew_time(101) == pytest.approx(0.60546875)


def test_holder_timeline_shows_the_hand_over_and_the_duplicate(run):
    timeline = analysis.holder_timeline(run.samples, "10.10.1.10")
    assert analysis.holders_at(timeline, rec.T0 + 5) == ["b1"]
    assert analysis.holders_at(timeline, rec.T0 + 15) == ["b1", "b2"]
    assert analysis.holders_at(timeline, rec.T0 + 25) == ["b1"]
    found = analysis.duplicates(timeline)
    assert len(found) == 1 and found[0]["holders"] == ["b1", "b2"]
    assert found[0]["duration_s"] == pytest.approx(10.0, abs=0.5)


def test_outage_is_measured_from_the_last_success_to_the_first_after(run):
    records = [r for r in run.probes if r.vip == "10.10.1.10"]
    result = analysis.outage(records, rec.T0 + 10.0, rec.T0 + 20.0)
    assert result["outage_s"] == pytest.approx(3.7, abs=0.06)
    assert result["failed"] == 73
    assert result["errors"] == ["timeout"]
    assert result["recovered"]


def test_outage_is_zero_when_nothing_failed(run):
    records = [r for r in run.probes if r.vip == "10.10.1.20"]
    assert analysis.outage(records, rec.T0 + 10.0, None)["outage_s"] == 0.0


def test_analyze_summarises_the_kill(run):
    summary = analysis.analyze(run)
    vi1 = summary["vips"]["VI_1"]
    assert vi1["new_holder"] == "b2" == vi1["expected_new_holder"]
    assert vi1["moved_after_s"] == pytest.approx(3.6, abs=0.21)
    assert vi1["theory_s"] == pytest.approx(3.605, abs=0.001)
    assert vi1["matches_theory"] is True
    assert vi1["duplicate_s"] > 5
    assert vi1["preemption_s"] == pytest.approx(3.65, abs=0.25)
    assert summary["vips"]["VI_2"]["failed"] == 0
    assert summary["failover"] == {"judged": 2, "matches_theory": True, "duplicate_detected": True}
    assert summary["requests"]["failed"] == 73


def test_a_graceful_stop_is_judged_against_the_skew_time(tmp_path):
    folder = rec.write_run(tmp_path / "run")
    events = (folder / "events.jsonl").read_text().replace("keepalived-kill", "keepalived-stop")
    (folder / "events.jsonl").write_text(events)
    summary = analysis.analyze(load_run(folder))
    vi1 = summary["vips"]["VI_1"]
    assert vi1["theory_s"] == pytest.approx(0.605, abs=0.001)
    assert vi1["matches_theory"] is False  # 3.6 s is far too slow for a graceful stop


def test_inactconn_series_rises_and_clears(tmp_path):
    def inact(t: float) -> int:
        return 25 if 5 <= t < 15 else 0

    run = load_run(rec.write_run(tmp_path / "run", inact_at=inact, with_timeout=True))
    result = analysis.inactconn_summary(run)
    assert result["peak"] == 50  # 25 on each real
    assert result["peak_per_real"] == {"r1": 25, "r2": 25}
    assert result["cleared"] is True
    assert result["cleared_t"] == pytest.approx(rec.T0 + 15, abs=0.21)
    assert result["timeouts"] == {"tcp": 900, "tcpfin": 10, "udp": 300}


def test_expectations(run):
    summary = analysis.analyze(run)
    results = analysis.evaluate_expectations(
        [
            {"name": "moved", "metric": "vips.VI_1.moved_after_s", "max": 5},
            {"name": "too strict", "metric": "vips.VI_1.outage_s", "max": 1},
            {"name": "dup", "metric": "failover.duplicate_detected", "equals": True},
            {"name": "absent", "metric": "vips.VI_9.outage_s", "max": 1},
            {"name": "skipped", "metric": "x", "max": 1, "when": "a == b"},
        ],
        summary,
    )
    assert [r["passed"] for r in results] == [True, False, True, False, True]
    assert results[1]["reason"].endswith("> 1")
    assert results[3]["reason"] == "not measured"
    assert results[4]["skipped"]


def test_inactconn_is_judged_against_its_level_before_the_burst(tmp_path):
    # Entries left by an earlier run (older 120 s timers) are still expiring when the burst
    # comes: the burst's rise and its clearing are measured from that level, not from zero.
    def inact(t: float) -> int:
        leftover = max(0, 40 - int(2 * t))  # 40 at the start, gone by t=20
        return leftover + (25 if 5.2 <= t < 15 else 0)

    from labctl.scenario import runfiles

    folder = rec.write_run(tmp_path / "run", inact_at=inact, with_timeout=True)
    runfiles.append_event(
        folder / "events.jsonl", {"t": rec.T0 + 5.1, "kind": "probe_start", "name": "burst", "vips": ["VI_1"]}
    )
    result = analysis.inactconn_summary(load_run(folder))
    assert result["director"] == "b1"
    assert result["baseline"] == 2 * (40 - 10)  # both reals, at the last sample before the burst
    assert result["rise"] > 0
    assert result["cleared"] is True
    assert result["cleared_t"] == pytest.approx(rec.T0 + 15, abs=0.21)
