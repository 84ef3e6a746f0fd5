"""The flapping and split-brain scenarios for real, in network namespaces (fixture `ns_lab`:
real keepalived with the lab's rendered configs). Loss and VRRP cuts are nftables tables on the
balancers' bridge ports, as they are on a sandboxed lab's taps; the report reads packets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from labctl.report.build import build
from labctl.resources import scenarios_dir
from labctl.scenario.engine import Engine
from labctl.scenario.loader import read_scenario
from tests.support.nslab import ns_lab  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _needs_nft():
    if shutil.which("nft") is None:
        pytest.skip("nft (nftables) is not installed")


def _run(ns_lab, tmp_path: Path, name: str, params: dict[str, str]) -> dict:
    scenario = read_scenario(scenarios_dir() / f"{name}.yaml", params, ns_lab.lab)
    out = tmp_path / "results" / name
    Engine(ns_lab, scenario, out).run()
    summary = build(out)
    # Whatever the run did to the links is gone: no labctl table left on the bridge.
    bridge = ns_lab.links["b1"].namespace
    import subprocess

    from labctl.lab import netns

    tables = subprocess.run(netns.exec_argv(bridge, ["nft", "list", "tables"]), capture_output=True, text=True)
    assert "labctl_" not in tables.stdout
    return summary


def test_flapping_in_namespaces(ns_lab, tmp_path: Path):
    summary = _run(
        ns_lab,
        tmp_path,
        "flapping",
        {"loss": "75", "direction": "from", "impaired_for": "20", "settle": "2", "after": "4", "rate": "5"},
    )
    flaps = summary["flapping"]
    print(json.dumps({k: v for k, v in flaps.items() if k not in ("per_vip",)}, indent=1))
    print(json.dumps({n: {k: v[k] for k in ("transitions", "changes")} for n, v in flaps["per_vip"].items()}))
    assert summary["error"] is None
    assert flaps["impaired"][0]["node"] == "b1" and flaps["impaired"][0]["at"] == "host"
    vi1 = flaps["per_vip"]["VI_1"]
    # 75 % of b1's adverts lost: three in a row (p = 0.42 per advert) happen several times in
    # 20 s; b2 (101) takes VI_1 each time and b1 takes it back.
    assert vi1["transitions"] >= 2
    assert {c["to"] for c in vi1["changes"]} >= {"b1", "b2"}
    # A backup claims only after the master-down interval of silence (3 x 1 s + skew).
    claims = [c for c in vi1["changes"] if c["from"] == "b1"]
    assert claims and all(c["silence_s"] > 2.5 for c in claims), claims
    assert flaps["recovered"] is True
    assert flaps["outage_per_transition_s"] is not None
    assert summary["passed"], [e for e in summary["expectations"] if not e["passed"]]


def test_split_brain_in_namespaces(ns_lab, tmp_path: Path):
    summary = _run(ns_lab, tmp_path, "split-brain", {"cut_for": "10", "settle": "2", "after": "3", "rate": "5"})
    split = summary["split_brain"]
    print(json.dumps({k: v for k, v in split.items() if k != "spells"}, indent=1))
    assert summary["error"] is None
    assert split["cut"][0]["node"] == "b1" and split["cut"][0]["at"] == "host"
    # b1 hears nobody: it claims VI_2 and VI_3 (it backs both up), while b2 and b3 keep them.
    assert split["detected"] is True
    assert split["duplicate_holders"] == {"VI_2": ["b1", "b2"], "VI_3": ["b1", "b3"]}
    assert split["polled_duplicates"] == {"VI_2": ["b1", "b2"], "VI_3": ["b1", "b3"]}
    assert 5.0 < split["duration_s"] < 12.0
    assert split["recovered"] is True and split["recovery_s"] <= 2.0
    # The client saw the VIPs announced from two balancers' MACs.
    assert any(len(v["macs_of"]) == 2 for v in split["arp"].values()), split["arp"]
    assert summary["passed"], [e for e in summary["expectations"] if not e["passed"]]
