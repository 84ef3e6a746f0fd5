"""A VRRP instance configured on some balancers only: rendered only there, and a failover of its
only balancer analysed, predicted and narrated as "nobody takes it over"."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from labctl.lab.vms.render import BoxRef, RenderContext, keepalived_conf, node_files
from labctl.model import lab as model
from labctl.model import planner as plan
from labctl.model.labrecord import lab_to_dict
from labctl.observe.iperf import parse_fetched
from labctl.observe.tapcounters import Count
from labctl.report import analysis
from labctl.report.build import build, load_run
from labctl.report.traffic import traffic
from labctl.scenario import runfiles
from tests.support import scenario_recordings as rec
from tests.support.keepalived_conf import vrrp_instances

CTX = RenderContext(box=BoxRef("debian/bookworm64"), auth_pass="Ab3dEf7h")


def lab_with(name: str, priorities: dict[str, int], manager: str = "ipvsadm") -> model.Lab:
    base = model.reference_lab()
    vips = tuple(replace(v, priorities=priorities) if v.name == name else v for v in base.vips)
    return replace(base, vips=vips, ipvs=model.IpvsSettings(manager=manager))


@pytest.mark.parametrize("manager", model.IPVS_MANAGERS)
def test_the_instance_is_rendered_only_where_it_has_a_priority(manager):
    lab = lab_with("VI_3", {"b3": 102}, manager)
    b1 = vrrp_instances(keepalived_conf(lab, lab.node("b1"), CTX.auth_pass))
    b3 = vrrp_instances(keepalived_conf(lab, lab.node("b3"), CTX.auth_pass))
    assert sorted(b1) == ["VI_1", "VI_2"]
    assert sorted(b3) == ["VI_1", "VI_2", "VI_3"]
    assert (b3["VI_3"]["state"], b3["VI_3"]["priority"]) == ("MASTER", "102")
    # IPVS keeps every VIP's service on every balancer (harmless where it is never held).
    files = {f.path: f.content for f in node_files(lab, lab.node("b1"), CTX)}
    where = files["keepalived.conf"] if manager == "keepalived" else files["ipvsadm.rules"]
    assert "10.10.1.30" in where


def test_the_other_balancers_are_no_candidates():
    lab = lab_with("VI_1", {"b1": 102, "b3": 100})
    vi1 = lab.vip("VI_1")
    assert lab.backup_order(vi1) == ["b1", "b3"]
    assert lab.elected_master(vi1, {"b2", "b3"}) == "b3"
    assert lab.elected_master(vi1, {"b2"}) is None
    assert lab.tied_for_master(vi1, {"b2"}) == []


def test_the_planner_drops_a_vip_whose_only_balancer_failed():
    # The matrix the capacity report and the traffic prediction build from a lab.
    lab = lab_with("VI_1", {"b1": 102})
    matrix = [
        plan.VipOrder(i + 1, lab.backup_order(v)[0], tuple(lab.backup_order(v)), dict(v.priorities))
        for i, v in enumerate(lab.vips)
    ]
    loads = plan.evaluate(matrix, ["b1", "b2", "b3"], 3e6, {"b1"})
    assert loads == {"b2": 1e6, "b3": 1e6}  # VI_1 carried by nobody; VI_2, VI_3 where planned


def _lines(role: str, seconds: int) -> str:
    out = []
    for n in range(seconds):
        head = f"{n + 1} [  5]   {n:.2f}-{n + 1:.2f}   sec   614 KBytes  5.03 Mbits/sec"
        out.append(f"{head}  503  " if role == "client" else f"{head}  0.020 ms  0/503 (0%)  ")
    return "\n".join(out) + "\n"


def test_the_traffic_prediction_leaves_the_vip_with_nobody():
    lab = lab_with("VI_1", {"b1": 102})
    taps = rec.TAPS
    events = rec.traffic_failure_events([v.address for v in lab.vips])
    counts = []
    for node, tap in taps.items():
        total = 0.0
        for t in range(40):
            total += (0 if node == "b1" and t >= 10 else 5e6) / 8
            counts.append(Count(float(t + 1), tap, int(total)))
    client = "\n".join(f"@@log main.client.{v.address}.log\n" + _lines("client", 40) for v in lab.vips)
    server = "\n".join(f"@@log main.server.{v.address}.log\n" + _lines("server", 40) for v in lab.vips)
    tests = parse_fetched(client, "c1") + parse_fetched(server, "r1")
    own = {"VI_1": "b1", "VI_2": "b2", "VI_3": "b3"}

    def held(name: str, t: float) -> list[str]:
        return [own[name]] if t <= 10 or name != "VI_1" else []

    figures = traffic(lab, events, counts, tests, held)
    assert figures is not None
    (failure,) = figures["failures"]
    # VI_1 goes dark: each survivor keeps its own third of 15 Mbit/s, 50 % of its 10 Mbit/s link.
    assert {n: s["predicted_pct"] for n, s in failure["survivors"].items()} == {"b2": 50.0, "b3": 50.0}
    assert all(s["matches"] for s in failure["survivors"].values())


# --- a recorded failover of a VIP without backup ----------------------------------------------------

# VI_1 on b1 alone; b1's keepalived stopped at t=10 and started at t=20: nobody holds 10.10.1.10
# from 10 to 20.7, its requests fail meanwhile, VI_2 and VI_3 never move.
BACK = 20.7


def _held(node: str, t: float) -> list[str]:
    own = {"b1": ["10.10.1.10"], "b2": ["10.10.1.20"], "b3": ["10.10.1.30"]}[node]
    return [] if node == "b1" and 10.0 <= t < BACK else own


def _vrrp(node: str, t: float) -> dict[str, str]:
    if node == "b1":
        return {"VI_1": "FAULT" if 10.0 <= t < BACK else "MASTER", "VI_2": "BACKUP", "VI_3": "BACKUP"}
    return {"VI_2": "MASTER" if node == "b2" else "BACKUP", "VI_3": "MASTER" if node == "b3" else "BACKUP"}


EXPECTATIONS = [
    {"name": "the VIP moved to a backup", "metric": "vips.VI_1.moved_after_s", "max": 10},
    {"name": "the hand-over matched VRRP theory", "metric": "vips.VI_1.matches_theory", "equals": True},
    {"name": "VI_2 kept answering", "metric": "vips.VI_2.failed", "max": 0},
]


@pytest.fixture
def no_backup_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(rec, "held", _held)
    monkeypatch.setattr(rec, "vrrp", _vrrp)
    folder = rec.write_run(tmp_path / "run", EXPECTATIONS)
    probes = []
    for line in (folder / "probe-main.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("vip") == "10.10.1.10":
            down = 10.0 <= record["t"] - rec.T0 < BACK
            record.update(ok=not down, status=None if down else 200, error="timeout" if down else None)
            record["real"] = None if down else record["real"] or "r1"
        elif record.get("vip"):
            record.update(ok=True, status=200, error=None, real=record["real"] or "r1")
        probes.append(json.dumps(record))
    (folder / "probe-main.jsonl").write_text("\n".join(probes) + "\n")
    (folder / "events.jsonl").unlink()
    for event in rec.events("keepalived-stop"):
        runfiles.append_event(folder / "events.jsonl", event)
    info = json.loads((folder / "run.json").read_text())
    info["lab"] = lab_to_dict(lab_with("VI_1", {"b1": 102}))
    info["params"]["method"] = "keepalived-stop"
    runfiles.write_json(folder / "run.json", info)
    return folder


def test_a_failover_without_backup_moves_nothing_and_says_why(no_backup_run):
    run = load_run(no_backup_run)
    assert run.lab.vip("VI_1").priorities == {"b1": 102}
    summary = analysis.analyze(run)
    down = summary["disruptions"][0]
    vi1 = down["vips"]["VI_1"]
    why = "VI_1 is configured on b1 only: no balancer takes it over when b1 fails"
    assert (vi1["moved"], vi1["new_holder"], vi1["expected_new_holder"]) == (False, None, None)
    assert vi1["moved_after_s"] is None and vi1["no_backup"] == why
    assert vi1["outage_s"] == pytest.approx(10.0, abs=0.1)  # dark until b1 came back (the next action)
    assert summary["vips"]["VI_1"]["no_backup"] == why
    assert "no_backup" not in down["vips"]["VI_2"] and summary["vips"]["VI_2"]["failed"] == 0
    moved, theory, kept = summary["expectations"]
    assert not moved["passed"] and moved["reason"] == f"not measured: {why}"
    assert not theory["passed"] and theory["reason"] == f"not measured: {why}"
    assert kept["passed"]
    assert summary["verdict"]["verdict"] == "fail"
    assert summary["verdict"]["reasons"][0] == f"the VIP moved to a backup: not measured: {why}"


def test_the_report_of_a_failover_without_backup_says_why(no_backup_run):
    summary = build(no_backup_run)  # the whole report, no theory to set the hand-over against
    assert summary["verdict"]["verdict"] == "fail"
    report = (no_backup_run / "report.md").read_text()
    assert "VIP did not move: VI_1 is configured on b1 only: no balancer takes it over when b1 fails" in report
