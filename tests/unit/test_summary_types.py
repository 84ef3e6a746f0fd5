"""summary.json's keys are declared in labctl.observe.summary: a key the analysis writes without a
type there (or a declared key it no longer writes) fails here."""

from __future__ import annotations

from typing import Any

from labctl.observe.summary import Failover, Requests, RunSummary, RunVerdict, TimelinePart, VipFigures, VipRequests
from labctl.report import analysis
from labctl.report.build import load_run
from tests.support import scenario_recordings as rec


def keys(typed: Any) -> tuple[frozenset[str], frozenset[str]]:
    return typed.__required_keys__, typed.__required_keys__ | typed.__optional_keys__


def assert_declared(found: dict[str, Any], typed: Any, what: str) -> None:
    required, allowed = keys(typed)
    assert set(found) <= allowed, (
        f"{what}: undeclared keys {sorted(set(found) - allowed)} (add them to {typed.__name__})"
    )
    assert required <= set(found), f"{what}: declared keys missing {sorted(required - set(found))}"


def test_a_recorded_runs_summary_has_the_declared_keys(tmp_path):
    expectations = [{"name": "outage", "metric": "vips.VI_1.outage_s", "max": 5}]
    summary = analysis.analyze(load_run(rec.write_run(tmp_path / "run", expectations=expectations)))
    assert list(summary) == list(RunSummary.__annotations__)  # every key, in summary.json's order
    assert_declared(summary["requests"], Requests, "requests")
    for address, requests in summary["requests"]["by_vip"].items():
        assert_declared(requests, VipRequests, f"requests.by_vip.{address}")
    assert summary["disruptions"], "the recording has a failover: its figures are folded into the VIPs"
    for name, figures in summary["vips"].items():
        assert_declared(figures, VipFigures, f"vips.{name}")
    assert "outage_s" in summary["vips"]["VI_1"]
    for name, parts in summary["timelines"].items():
        for part in parts:
            assert_declared(part, TimelinePart, f"timelines.{name}")
    assert_declared(summary["failover"], Failover, "failover")
    assert_declared(summary["verdict"], RunVerdict, "verdict")
    assert summary["traffic"] is None  # the traffic figures: tests/unit/test_traffic_figures.py
