"""The capacity scenario in network namespaces: each balancer powered off in turn; VIPs land
where VRRP puts them (priority, then the higher address on a tie, as in the reference's VI_2
and VI_3) and the load split matches the planner's prediction."""

from __future__ import annotations

import pytest

from labctl.report.build import build
from labctl.resources import scenarios_dir
from labctl.scenario.engine import Engine
from labctl.scenario.loader import read_scenario
from tests.support.nslab import ns_lab  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration


def test_capacity_in_namespaces(ns_lab, tmp_path):
    scenario = read_scenario(scenarios_dir() / "capacity.yaml", {"down_for": "5", "max_back": "30"}, ns_lab.lab)
    out = tmp_path / "results" / "capacity"
    Engine(ns_lab, scenario, out).run()
    summary = build(out)
    assert summary["error"] is None
    rounds = {r["failed"]: r for r in summary["capacity"]["rounds"]}
    assert set(rounds) == {"b1", "b2", "b3"}
    # Without a tie the VIP goes to the next priority: VI_1 to b2 without b1.
    assert rounds["b1"]["placement"] == {"VI_1": "b2", "VI_2": "b2", "VI_3": "b3"}
    assert rounds["b1"]["load_matches"] is True
    # The reference's ties (VI_2: b1 and b3 at 101 without b2; VI_3: b1 and b2 at 100 without
    # b3): either tied backup may win, whichever master-down timer fires first.
    assert rounds["b2"]["ties"] == {"VI_2": ["b1", "b3"]}
    assert rounds["b3"]["ties"] == {"VI_3": ["b1", "b2"]}
    for entry in rounds.values():
        assert entry["placement_ok"], entry
    print({name: entry["placement"] for name, entry in rounds.items()})
    assert summary["capacity"]["matches_prediction"] is True
    assert summary["passed"], summary["expectations"]
    assert "Capacity against the planner" in (out / "report.md").read_text()
